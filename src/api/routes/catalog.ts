import type { ApiApp, RouteOptions } from '../context.ts'

// placeholder while the routes are written
export async function catalogRoutes(_app: ApiApp, _opts: RouteOptions): Promise<void> {}
