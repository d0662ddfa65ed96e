import { execFile } from 'node:child_process'
import { chmod, copyFile, mkdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { tempDir } from '../fixtures/plugins.ts'

// The `omni` launcher at the repository root: the CLI without an alias, with the project's Node.
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const LAUNCHER = join(ROOT, 'omni')

function run(file: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

t.test('./omni --help and ./omni validate manifests run the CLI', async (t) => {
  t.equal((await stat(LAUNCHER)).mode & 0o755, 0o755, 'the launcher is executable')
  const help = await run('./omni', ['--help'])
  t.equal(help.code, 0, help.stderr)
  t.match(help.stdout, /^Usage: omni /m)
  for (const cmd of ['up', 'validate', 'publish', 'tail', 'dlq', 'plugin']) t.match(help.stdout, new RegExp(`^  ${cmd} `, 'm'))
  const validate = await run('./omni', ['validate', 'manifests'])
  t.equal(validate.code, 0, validate.stderr)
  t.match(validate.stdout, /^ok: \d+ file\(s\)/)
  t.equal(validate.stderr, '', 'no warnings on stderr')
})

t.test('it finds the repository through a symbolic link, from any folder', async (t) => {
  const dir = await tempDir(t, 'launcher-link')
  await symlink(LAUNCHER, join(dir, 'omni'))
  const r = await run(join(dir, 'omni'), ['validate', join(ROOT, 'manifests')], { cwd: dir })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^ok: /)
})

t.test('without Node 24 it says to run make setup', async (t) => {
  const dir = await tempDir(t, 'launcher-old-node')
  await copyFile(LAUNCHER, join(dir, 'omni'))
  // a node on PATH that is too old, and no .tools/ beside the launcher
  await mkdir(join(dir, 'bin'))
  await writeFile(join(dir, 'bin', 'node'), '#!/bin/sh\necho 20\n')
  await chmod(join(dir, 'bin', 'node'), 0o755)
  const r = await run(join(dir, 'omni'), ['--help'], { cwd: dir, env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin` } })
  t.equal(r.code, 1)
  t.match(r.stderr, /^omni: needs Node 24 or newer: run `make setup`/)
})
