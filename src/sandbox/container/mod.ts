/** The container sandbox: third-party plugins in long-running, no-network Docker sidecars. */
export { createContainerRuntime, type ContainerRuntime, type ContainerRuntimeOptions, type ContainerPluginInstance } from './runtime.ts'
export { buildRunnerImage, RUNNER_IMAGE_NAME, RUNNER_CONTENT_LABEL, type RunnerImage, type RunnerImageProgress, type BuildRunnerImageOptions } from './image.ts'
export { insecureSettings, createOptions, PLUGIN_LABEL, RUNTIME_LABEL, type SidecarSpec } from './settings.ts'
export { MIN_MEMORY_MB, MIN_PIDS } from './options.ts'
