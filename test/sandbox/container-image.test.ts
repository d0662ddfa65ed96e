import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buffer } from 'node:stream/consumers'
import t from 'tap'
import { buildRunnerImage, RUNNER_CONTENT_LABEL, type RunnerImageProgress } from '../../src/sandbox/container/image.ts'
import { tarStream } from '../../src/rootfs/tar.ts'
import { testDocker } from '../fixtures/docker.ts'

// The rootfs tarball the runner image is imported from, read back by the system's tar.

async function tarOf(entries: Parameters<typeof tarStream>[0]): Promise<Buffer> {
  return buffer(tarStream(entries))
}

function runTar(args: string[], input: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out).toString()) : reject(new Error(Buffer.concat(err).toString()))))
    child.stdin.end(input)
  })
}

t.test('folders and files, from memory and from host files, with their modes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'omni-tar-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const host = join(dir, 'big.bin')
  const bytes = Buffer.alloc(70_000, 7)
  await writeFile(host, bytes)
  const tar = await tarOf([
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'opt/', mode: 0o755 },
    { type: 'file', path: 'opt/hello.txt', mode: 0o444, size: 5, from: Buffer.from('hello') },
    { type: 'file', path: 'opt/big.bin', mode: 0o555, size: (await stat(host)).size, from: host },
  ])
  t.equal(tar.length % 512, 0, 'whole blocks')
  const listing = await runTar(['-tvf', '-'], tar)
  t.match(listing, /drwxrwxrwt root\/root\s+0 .* tmp\//)
  t.match(listing, /-r--r--r-- root\/root\s+5 .* opt\/hello\.txt/)
  t.match(listing, /-r-xr-xr-x root\/root\s+70000 .* opt\/big\.bin/)
  t.equal(await runTar(['-xOf', '-', 'opt/hello.txt'], tar), 'hello')
  t.equal((await runTar(['-xOf', '-', 'opt/big.bin'], tar)).length, 70_000)
  t.same(await tarOf([{ type: 'file', path: 'a', mode: 0o444, size: 1, from: Buffer.from('x') }]), await tarOf([{ type: 'file', path: 'a', mode: 0o444, size: 1, from: Buffer.from('x') }]), 'the same inputs give the same bytes')
})

t.test('a long path is kept in ustar\'s prefix field, owners by uid', async (t) => {
  const long = `opt/omni/app/node_modules/${'p'.repeat(60)}/lib/${'n'.repeat(60)}.js`
  const tar = await tarOf([
    { type: 'dir', path: 'data', mode: 0o755, owner: 65532 },
    { type: 'file', path: long, mode: 0o444, size: 2, from: Buffer.from('ok') },
  ])
  t.equal(await runTar(['-xOf', '-', long], tar), 'ok', 'GNU tar reads the whole path back')
  t.match(await runTar(['-tvf', '-', '--numeric-owner'], tar), /drwxr-xr-x 65532\/65532\s+0 .* data\//)
})

t.test('a file that changed size, or a path too long for ustar, fails the stream', async (t) => {
  await t.rejects(tarOf([{ type: 'file', path: 'a', mode: 0o444, size: 10, from: Buffer.from('short') }]), /expected 10 bytes, read 5/)
  await t.rejects(tarOf([{ type: 'dir', path: 'x'.repeat(120), mode: 0o755 }]), /tar path too long/)
})

const env = await testDocker(t)
if (env) {
  t.test('the runner image: pinned by its id, reused by its content label', async (t) => {
    t.match(env.image, { id: /^sha256:[0-9a-f]{64}$/, ref: /^omni-plugin-node@sha256:[0-9a-f]{64}$/ })
    t.equal(env.image.ref.slice(env.image.ref.indexOf('@') + 1), env.image.id)
    const events: RunnerImageProgress[] = []
    const again = await buildRunnerImage(env.docker, { onProgress: (p) => events.push(p) })
    t.same(again, env.image, 'the same image, not a second build')
    t.same(
      events.map((e) => e.type),
      ['hashing', 'reused'],
    )
    const info = await env.docker.getImage(env.image.id).inspect()
    t.match(info.Config.Labels, { [RUNNER_CONTENT_LABEL]: /^[0-9a-f]{64}$/ })
    t.equal(info.Config.User, '65534:65534')
  })
}
