import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { omniError } from '../errors/mod.ts'
import type { SigningKey } from './dsse.ts'

/** Key id: the first 32 hex characters of the sha256 of the public key's SPKI DER. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('hex').slice(0, 32)
}

/** Generates a new ed25519 signing key. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { keyid: keyIdOf(publicKey), privateKey, publicKey }
}

/** The PEM (SPKI) text of a public key. */
export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString()
}

/** Parses a PEM public key and insists it is ed25519, the only algorithm Omni verifies. */
export function parsePublicKey(pem: string, source: string): KeyObject {
  let key: KeyObject
  try {
    key = createPublicKey({ key: pem, format: 'pem' })
  } catch (cause) {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${source} is not a PEM public key: ${(cause as Error).message}`, { cause })
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw omniError('OMNI_ERR_PLUGIN_UNTRUSTED', `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; only ed25519 keys are trusted`)
  }
  return key
}

/** Parses a PEM (PKCS#8) ed25519 private key into a signing key. */
export function parseSigningKey(pem: string, source: string): SigningKey {
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' })
  } catch (cause) {
    throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source} is not a PEM private key: ${(cause as Error).message}`, { cause })
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw omniError('OMNI_ERR_PLUGIN_SIGNATURE', `${source} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key; Omni signs with ed25519 only`)
  }
  const publicKey = createPublicKey(privateKey)
  return { keyid: keyIdOf(publicKey), privateKey, publicKey }
}

/** Reads a private key file written by `writeSigningKey`. */
export async function readSigningKey(file: string): Promise<SigningKey> {
  return parseSigningKey(await readKeyFile(file), file)
}

/** Reads a public key file (PEM). */
export async function readPublicKey(file: string): Promise<KeyObject> {
  return parsePublicKey(await readKeyFile(file), file)
}

/** Files written for one key pair. */
export interface KeyFiles {
  readonly keyid: string
  /** `<dir>/<name>.key`, PKCS#8 PEM, mode 0600 */
  readonly privateKeyFile: string
  /** `<dir>/<name>.pub`, SPKI PEM */
  readonly publicKeyFile: string
}

/**
 * Writes `<name>.key` (owner read/write only) and `<name>.pub` into `dir`. Refuses to overwrite
 * an existing key: losing a root or publisher key cannot be undone.
 */
export async function writeSigningKey(dir: string, name: string, key: SigningKey): Promise<KeyFiles> {
  if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name)) throw omniError('OMNI_ERR_CONFIG', `key name "${name}" may only hold letters, digits, ".", "_" and "-"`)
  await mkdir(dir, { recursive: true })
  const privateKeyFile = join(dir, `${name}.key`)
  const publicKeyFile = join(dir, `${name}.pub`)
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  await writeExclusive(privateKeyFile, pem, 0o600)
  await writeExclusive(publicKeyFile, publicKeyPem(key.publicKey), 0o644)
  return { keyid: key.keyid, privateKeyFile, publicKeyFile }
}

async function writeExclusive(file: string, text: string, mode: number): Promise<void> {
  try {
    await writeFile(file, text, { mode, flag: 'wx' })
  } catch (cause) {
    const exists = (cause as NodeJS.ErrnoException).code === 'EEXIST'
    throw omniError('OMNI_ERR_CONFIG', exists ? `${file} already exists; refusing to overwrite a key` : `cannot write ${file}: ${(cause as Error).message}`, { cause })
  }
}

async function readKeyFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (cause) {
    throw omniError('OMNI_ERR_CONFIG', `cannot read key file ${file}: ${(cause as Error).message}`, { cause })
  }
}
