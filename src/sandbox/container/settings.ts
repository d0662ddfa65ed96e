import type Docker from 'dockerode'
import type { Problem } from '../../errors/mod.ts'
import type { SandboxLimits } from '../types.ts'

/** Paths inside the runner image and the plugin's container. */
export const NODE_PATH = '/opt/omni/node'
export const RUNNER_PATH = '/opt/omni/runner.cjs'
export const PLUGIN_MOUNT = '/plugin'
export const SOCKET_MOUNT = '/run/omni'
export const ENTRY_FILE = 'entry.js'
/** the host's socket, which the runner connects to (the host listens: it never connects to a path the container could change) */
export const SOCKET_FILE = 'host.sock'
export const SANDBOX_USER = '65534:65534'
export const PLUGIN_LABEL = 'omni.fabric.plugin'
export const RUNTIME_LABEL = 'omni.fabric.runtime'
const TMPFS = 'rw,noexec,nosuid,nodev,size=16m'

/** What a plugin's container must look like; the same values create it and check it. */
export interface SidecarSpec {
  readonly pluginId: string
  /** label shared by every container of one runtime */
  readonly runtimeId: string
  readonly name: string
  /** the image id, `sha256:…` */
  readonly imageId: string
  /** host folders, both mounted read-only: the plugin's code, and the folder of the host's socket the runner connects to */
  readonly pluginDir: string
  readonly socketDir: string
  readonly limits: SandboxLimits
  readonly maxFrameBytes: number
}

const MIB = 1024 * 1024

/** The V8 heap cap: well below the container's memory, so a heap blow-up ends as a V8 OOM first. */
export function heapMb(memoryMb: number): number {
  return Math.max(16, Math.floor(memoryMb / 2))
}

/** The create options of a plugin's container. */
export function createOptions(spec: SidecarSpec): Docker.ContainerCreateOptions {
  const { limits } = spec
  // the engine API knows CgroupnsMode; @types/dockerode does not yet
  const HostConfig: Docker.HostConfig & { CgroupnsMode: string } = {
    NetworkMode: 'none',
    ReadonlyRootfs: true,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    Privileged: false,
    IpcMode: 'none',
    // cgroup v1 engines default to the host's cgroup namespace, which shows the host's cgroup tree
    CgroupnsMode: 'private',
    PidsLimit: limits.pids,
    Memory: limits.memoryMb * MIB,
    MemorySwap: limits.memoryMb * MIB,
    NanoCpus: Math.round(limits.cpus * 1e9),
    Tmpfs: { '/tmp': TMPFS },
    Mounts: [
      { Type: 'bind', Source: spec.pluginDir, Target: PLUGIN_MOUNT, ReadOnly: true },
      // read-only: the container's only writable place is the size-capped /tmp, so it cannot fill
      // the disk JetStream writes to, nor put anything where the host would look
      { Type: 'bind', Source: spec.socketDir, Target: SOCKET_MOUNT, ReadOnly: true },
    ],
    RestartPolicy: { Name: 'no' },
    // a chatty plugin must not fill the engine's disk
    LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
  }
  return {
    name: spec.name,
    Image: spec.imageId,
    Cmd: [
      NODE_PATH,
      `--max-old-space-size=${heapMb(limits.memoryMb)}`,
      '--disallow-code-generation-from-strings',
      RUNNER_PATH,
      `${PLUGIN_MOUNT}/${ENTRY_FILE}`,
      `plugin:${spec.pluginId}`,
      `${SOCKET_MOUNT}/${SOCKET_FILE}`,
      String(limits.timeoutMs),
      String(spec.maxFrameBytes),
    ],
    Entrypoint: [],
    Env: [],
    User: SANDBOX_USER,
    WorkingDir: '/',
    Labels: { [PLUGIN_LABEL]: spec.pluginId, [RUNTIME_LABEL]: spec.runtimeId },
    NetworkDisabled: true,
    HostConfig,
  }
}

const UNSAFE_SECURITY_OPTS = /^(seccomp|apparmor)[=:]unconfined$|^label[=:]disable$|^systempaths[=:]unconfined$/

/**
 * Every sandbox setting that did not take effect in a container's inspect data (`where` names
 * the setting); empty when the container is as `spec` asks. Pure, so tests can feed it tampered
 * data: an engine may silently drop a limit its kernel does not support, or change a default.
 */
export function insecureSettings(inspect: unknown, spec: SidecarSpec): Problem[] {
  const problems: Problem[] = []
  const bad = (setting: string, got: unknown, want: string) => problems.push({ where: setting, message: `is ${JSON.stringify(got) ?? 'missing'}, expected ${want}` })
  const info = record(inspect)
  const config = record(info['Config'])
  const host = record(info['HostConfig'])
  const { limits } = spec

  if (info['Image'] !== spec.imageId) bad('Image', info['Image'], spec.imageId)
  if (host['NetworkMode'] !== 'none') bad('HostConfig.NetworkMode', host['NetworkMode'], '"none"')
  if (config['NetworkDisabled'] !== true) bad('Config.NetworkDisabled', config['NetworkDisabled'], 'true')
  const networks = Object.keys(record(record(info['NetworkSettings'])['Networks']))
  if (networks.some((n) => n !== 'none')) bad('NetworkSettings.Networks', networks, 'only "none"')
  if (host['ReadonlyRootfs'] !== true) bad('HostConfig.ReadonlyRootfs', host['ReadonlyRootfs'], 'true')
  if (host['Privileged'] !== false) bad('HostConfig.Privileged', host['Privileged'], 'false')
  const capDrop = strings(host['CapDrop'])
  if (!capDrop.some((c) => c.toUpperCase() === 'ALL' || c.toUpperCase() === 'CAP_ALL')) bad('HostConfig.CapDrop', host['CapDrop'], '["ALL"]')
  if (strings(host['CapAdd']).length > 0 || (host['CapAdd'] != null && !Array.isArray(host['CapAdd']))) bad('HostConfig.CapAdd', host['CapAdd'], 'none')
  const secOpts = strings(host['SecurityOpt'])
  if (!secOpts.some((o) => /^no-new-privileges(?:[=:]true)?$/.test(o))) bad('HostConfig.SecurityOpt', host['SecurityOpt'], 'to include "no-new-privileges"')
  if (secOpts.some((o) => UNSAFE_SECURITY_OPTS.test(o))) bad('HostConfig.SecurityOpt', host['SecurityOpt'], 'no unconfined profile')
  if (config['User'] !== SANDBOX_USER) bad('Config.User', config['User'], `"${SANDBOX_USER}"`)
  if (host['PidsLimit'] !== limits.pids) bad('HostConfig.PidsLimit', host['PidsLimit'], String(limits.pids))
  if (host['Memory'] !== limits.memoryMb * MIB) bad('HostConfig.Memory', host['Memory'], String(limits.memoryMb * MIB))
  if (host['MemorySwap'] !== limits.memoryMb * MIB) bad('HostConfig.MemorySwap', host['MemorySwap'], `${limits.memoryMb * MIB} (no swap)`)
  if (host['OomKillDisable'] === true) bad('HostConfig.OomKillDisable', host['OomKillDisable'], 'false')
  if (host['NanoCpus'] !== Math.round(limits.cpus * 1e9)) bad('HostConfig.NanoCpus', host['NanoCpus'], String(Math.round(limits.cpus * 1e9)))
  if (host['CgroupnsMode'] !== 'private') bad('HostConfig.CgroupnsMode', host['CgroupnsMode'], '"private"')
  for (const ns of ['PidMode', 'UTSMode', 'UsernsMode'] as const) {
    if (host[ns] === 'host' || (typeof host[ns] === 'string' && (host[ns] as string).startsWith('container:'))) bad(`HostConfig.${ns}`, host[ns], 'a namespace of its own')
  }
  if (host['IpcMode'] !== 'none') bad('HostConfig.IpcMode', host['IpcMode'], '"none"')
  for (const list of ['Devices', 'DeviceRequests', 'Binds', 'VolumesFrom', 'ExtraHosts', 'DeviceCgroupRules'] as const) {
    if (Array.isArray(host[list]) ? (host[list] as unknown[]).length > 0 : host[list] != null) bad(`HostConfig.${list}`, host[list], 'none')
  }
  const restart = record(host['RestartPolicy'])['Name']
  if (restart !== undefined && restart !== '' && restart !== 'no') bad('HostConfig.RestartPolicy', restart, '"no" (the runtime restarts containers itself)')
  const tmpfs = record(host['Tmpfs'])
  const tmpOpts = typeof tmpfs['/tmp'] === 'string' ? (tmpfs['/tmp'] as string).split(',') : []
  if (Object.keys(tmpfs).length !== 1 || !['noexec', 'nosuid'].every((o) => tmpOpts.includes(o)) || !tmpOpts.some((o) => o.startsWith('size='))) bad('HostConfig.Tmpfs', host['Tmpfs'], '/tmp only, noexec,nosuid with a size')
  problems.push(...mountProblems(info['Mounts'], spec))
  return problems
}

function mountProblems(mounts: unknown, spec: SidecarSpec): Problem[] {
  const want = [
    { Destination: PLUGIN_MOUNT, Source: spec.pluginDir, RW: false },
    { Destination: SOCKET_MOUNT, Source: spec.socketDir, RW: false },
  ]
  const got = Array.isArray(mounts) ? mounts.map(record) : []
  const ok =
    got.length === want.length &&
    want.every((w) => got.some((m) => m['Type'] === 'bind' && m['Destination'] === w.Destination && m['Source'] === w.Source && m['RW'] === w.RW))
  if (ok) return []
  const shown = got.map((m) => `${String(m['Type'])} ${String(m['Source'])} -> ${String(m['Destination'])} ${m['RW'] === true ? 'rw' : 'ro'}`)
  return [{ where: 'Mounts', message: `are [${shown.join('; ')}], expected only ${spec.pluginDir} -> ${PLUGIN_MOUNT} ro and ${spec.socketDir} -> ${SOCKET_MOUNT} ro` }]
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}
