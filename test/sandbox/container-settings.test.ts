import t from 'tap'
import { FrameTooLarge, createFrameReader, createFrameWriter } from '../../src/sandbox/container/frames.ts'
import { decodeOutputs } from '../../src/sandbox/container/instance.ts'
import { callTimeoutMs, checkContainerLimits, resolveContainerOptions } from '../../src/sandbox/container/options.ts'
import { createOptions, heapMb, insecureSettings, type SidecarSpec } from '../../src/sandbox/container/settings.ts'

// The pure parts of the container runtime: no engine needed.

const MIB = 1024 * 1024
const SPEC: SidecarSpec = {
  pluginId: 'acme.double',
  runtimeId: 'r1',
  name: 'omni-plugin-acme.double-1',
  imageId: `sha256:${'a'.repeat(64)}`,
  pluginDir: '/work/acme.double-1/plugin',
  socketDir: '/work/acme.double-1/sock',
  limits: { memoryMb: 128, timeoutMs: 1000, cpus: 0.5, pids: 32 },
  maxFrameBytes: 1024,
}

/** What a Docker 20.10 engine reports for a container created with createOptions(SPEC). */
function goodInspect(): Record<string, any> {
  const created = createOptions(SPEC)
  return {
    Id: 'c'.repeat(64),
    Image: SPEC.imageId,
    State: { Running: false, OOMKilled: false, ExitCode: 0 },
    Config: { User: '65534:65534', Env: null, Cmd: created.Cmd, NetworkDisabled: true, Labels: created.Labels },
    NetworkSettings: { Networks: {} },
    HostConfig: {
      ...created.HostConfig,
      Binds: null,
      CapAdd: null,
      Devices: null,
      DeviceRequests: null,
      DeviceCgroupRules: null,
      VolumesFrom: null,
      ExtraHosts: null,
      OomKillDisable: false,
      PidMode: '',
      UTSMode: '',
      UsernsMode: '',
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    },
    Mounts: [
      { Type: 'bind', Source: SPEC.pluginDir, Destination: '/plugin', Mode: '', RW: false, Propagation: 'rprivate' },
      { Type: 'bind', Source: SPEC.socketDir, Destination: '/run/omni', Mode: '', RW: false, Propagation: 'rprivate' },
    ],
  }
}

t.test('create options carry every sandbox setting, from the limits', async (t) => {
  const o = createOptions(SPEC)
  t.equal(o.Image, SPEC.imageId)
  t.equal(o.User, '65534:65534')
  t.same(o.Env, [])
  t.equal(o.NetworkDisabled, true)
  t.match(o.HostConfig, {
    NetworkMode: 'none',
    ReadonlyRootfs: true,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    PidsLimit: 32,
    Memory: 128 * MIB,
    MemorySwap: 128 * MIB,
    NanoCpus: 500_000_000,
    IpcMode: 'none',
    Tmpfs: { '/tmp': /noexec/ },
  })
  t.same(
    o.HostConfig?.Mounts?.map((m) => [m.Source, m.Target, m.ReadOnly]),
    [
      [SPEC.pluginDir, '/plugin', true],
      [SPEC.socketDir, '/run/omni', true],
    ],
    'both binds read-only: the container cannot write to the host\'s disk',
  )
  t.ok(o.Cmd?.includes(`--max-old-space-size=${heapMb(128)}`), 'the V8 heap is capped below the container memory')
  t.ok(heapMb(128) < 128)
  t.equal(heapMb(64), 32)
})

t.test('a container as asked passes the check', async (t) => {
  t.same(insecureSettings(goodInspect(), SPEC), [])
})

t.test('the check names each setting that did not take effect', async (t) => {
  const tamperings: Array<[string, (i: Record<string, any>) => void]> = [
    ['Image', (i) => (i.Image = `sha256:${'b'.repeat(64)}`)],
    ['HostConfig.NetworkMode', (i) => (i.HostConfig.NetworkMode = 'bridge')],
    ['HostConfig.NetworkMode', (i) => (i.HostConfig.NetworkMode = 'host')],
    ['Config.NetworkDisabled', (i) => (i.Config.NetworkDisabled = false)],
    ['NetworkSettings.Networks', (i) => (i.NetworkSettings.Networks = { bridge: {} })],
    ['HostConfig.ReadonlyRootfs', (i) => (i.HostConfig.ReadonlyRootfs = false)],
    ['HostConfig.Privileged', (i) => (i.HostConfig.Privileged = true)],
    ['HostConfig.CapDrop', (i) => (i.HostConfig.CapDrop = ['NET_RAW'])],
    ['HostConfig.CapDrop', (i) => (i.HostConfig.CapDrop = null)],
    ['HostConfig.CapAdd', (i) => (i.HostConfig.CapAdd = ['SYS_ADMIN'])],
    ['HostConfig.SecurityOpt', (i) => (i.HostConfig.SecurityOpt = [])],
    ['HostConfig.SecurityOpt', (i) => i.HostConfig.SecurityOpt.push('seccomp=unconfined')],
    ['HostConfig.SecurityOpt', (i) => i.HostConfig.SecurityOpt.push('apparmor:unconfined')],
    ['Config.User', (i) => (i.Config.User = '')],
    ['Config.User', (i) => (i.Config.User = '0:0')],
    ['HostConfig.PidsLimit', (i) => (i.HostConfig.PidsLimit = 0)],
    ['HostConfig.PidsLimit', (i) => (i.HostConfig.PidsLimit = null)],
    ['HostConfig.Memory', (i) => (i.HostConfig.Memory = 0)],
    ['HostConfig.MemorySwap', (i) => (i.HostConfig.MemorySwap = -1)],
    ['HostConfig.OomKillDisable', (i) => (i.HostConfig.OomKillDisable = true)],
    ['HostConfig.NanoCpus', (i) => (i.HostConfig.NanoCpus = 0)],
    ['HostConfig.PidMode', (i) => (i.HostConfig.PidMode = 'host')],
    ['HostConfig.UTSMode', (i) => (i.HostConfig.UTSMode = 'host')],
    ['HostConfig.UsernsMode', (i) => (i.HostConfig.UsernsMode = 'host')],
    ['HostConfig.CgroupnsMode', (i) => (i.HostConfig.CgroupnsMode = 'host')],
    ['HostConfig.IpcMode', (i) => (i.HostConfig.IpcMode = 'host')],
    ['HostConfig.IpcMode', (i) => (i.HostConfig.IpcMode = 'shareable')],
    ['HostConfig.Devices', (i) => (i.HostConfig.Devices = [{ PathOnHost: '/dev/kvm' }])],
    ['HostConfig.Binds', (i) => (i.HostConfig.Binds = ['/:/host'])],
    ['HostConfig.VolumesFrom', (i) => (i.HostConfig.VolumesFrom = ['other'])],
    ['HostConfig.RestartPolicy', (i) => (i.HostConfig.RestartPolicy = { Name: 'always' })],
    ['HostConfig.Tmpfs', (i) => (i.HostConfig.Tmpfs = { '/tmp': 'rw,size=16m' })],
    ['HostConfig.Tmpfs', (i) => (i.HostConfig.Tmpfs['/var'] = 'rw,noexec,nosuid,size=1m')],
    ['Mounts', (i) => (i.Mounts[0].RW = true)],
    ['Mounts', (i) => (i.Mounts[1].RW = true)],
    ['Mounts', (i) => (i.Mounts[1].Source = '/')],
    ['Mounts', (i) => i.Mounts.push({ Type: 'volume', Name: 'x', Source: '/var/lib/docker/volumes/x', Destination: '/data', RW: true })],
    ['Mounts', (i) => i.Mounts.pop()],
  ]
  for (const [setting, tamper] of tamperings) {
    const inspect = goodInspect()
    tamper(inspect)
    const problems = insecureSettings(inspect, SPEC)
    t.ok(
      problems.some((p) => p.where === setting),
      `${setting} tampered: ${problems.map((p) => `${p.where} ${p.message}`).join('; ')}`,
    )
  }
  t.same(
    insecureSettings({}, SPEC).map((p) => p.where).slice(0, 3),
    ['Image', 'HostConfig.NetworkMode', 'Config.NetworkDisabled'],
    'empty inspect data fails everything',
  )
  t.ok(insecureSettings(null, SPEC).length > 10)
})

t.test('frames: length-prefixed msgpack, split anywhere, capped both ways', async (t) => {
  const writer = createFrameWriter(1024)
  const reader = createFrameReader(1024)
  const messages = [{ id: 1, inputs: [{ a: 1 }, { a: 2 }] }, { id: 2, outputs: [{ ok: { type: 'continue' } }, { err: 'x' }] }]
  const bytes = Buffer.concat(messages.map((m) => writer.encode(m)))
  const got: unknown[] = []
  for (let i = 0; i < bytes.length; i += 3) got.push(...reader.push(bytes.subarray(i, i + 3)))
  t.same(got, messages)
  t.throws(() => writer.encode({ big: 'x'.repeat(2000) }), FrameTooLarge)
  const huge = Buffer.alloc(4)
  huge.writeUInt32BE(1025)
  t.throws(() => createFrameReader(1024).push(huge), FrameTooLarge, 'a header announcing more than the cap is refused before any body arrives')
})

t.test('runner entries become checked outputs; only plain JSON data passes', async (t) => {
  const entries: unknown[] = [
    { ok: { type: 'continue', data: { n: 1 } } },
    {},
    { err: 'TypeError: nope' },
    { bad: 'invalid result: stage returned a function' },
    { ok: { type: 'continue', data: { at: new Date(0) } } },
    { ok: { type: 'continue', data: { m: new Map() } } },
    { ok: { type: 'continue', data: { b: new Uint8Array(2) } } },
    { ok: { type: 'continue', data: { n: 2n } } },
    { ok: { type: 'continue', data: { n: Number.NaN } } },
    { ok: { type: 'explode' } },
    'not an entry',
    null,
  ]
  const outputs = decodeOutputs(entries)
  t.same(outputs.slice(0, 4), [
    { type: 'continue', data: { n: 1 } },
    { type: 'continue' },
    { type: 'error', kind: 'threw', message: 'TypeError: nope' },
    { type: 'error', kind: 'invalid-result', message: 'invalid result: stage returned a function' },
  ])
  t.same(
    outputs.slice(4).map((o) => o.type === 'error' && o.kind),
    Array(8).fill('invalid-result'),
  )
  let deep: Record<string, unknown> = {}
  const root = deep
  for (let i = 0; i < 100; i++) deep = (deep['d'] = {}) as Record<string, unknown>
  t.match(decodeOutputs([{ ok: { type: 'continue', data: root } }])[0], { type: 'error', kind: 'invalid-result' }, 'nesting is bounded')
})

t.test('options and limits are validated, every problem named', async (t) => {
  t.throws(() => resolveContainerOptions({ socketPath: '', workDir: 'relative', startTimeoutMs: 0, maxFrameBytes: 1.5 }), {
    code: 'OMNI_ERR_CONFIG',
    problems: [{ where: 'socketPath' }, { where: 'workDir' }, { where: 'startTimeoutMs' }, { where: 'maxFrameBytes' }],
  })
  const config = resolveContainerOptions({ socketPath: '/run/docker.sock', workDir: '/tmp/w', timeoutGraceMs: 250 })
  t.ok(Object.isFrozen(config))
  t.equal(callTimeoutMs(SPEC.limits, config), 1250)
  t.throws(() => checkContainerLimits('acme.x', { memoryMb: 8, timeoutMs: 0, cpus: 0, pids: 1 }), {
    code: 'OMNI_ERR_CONFIG',
    permanent: true,
    problems: [{ where: 'limits.memoryMb' }, { where: 'limits.timeoutMs' }, { where: 'limits.cpus' }, { where: 'limits.pids' }],
  })
  t.doesNotThrow(() => checkContainerLimits('acme.x', SPEC.limits))
})
