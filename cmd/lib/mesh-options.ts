import { resolve } from 'node:path'
import type { Command } from 'commander'
import { omniError } from '../../src/errors/mod.ts'
import type { MeshConfig } from '../../src/mesh/config.ts'
import { compiledOrThrow, compileMeshDocument, loadMeshManifest } from '../../src/mesh/manifest.ts'
import type { PathSegment, YamlManifest } from '../../src/yaml/yaml.ts'

export interface MeshCliOptions {
  mesh?: string
  meshNode?: string
  meshCluster?: string
  meshRole?: string
  meshHub?: string[]
  meshCredentials?: string
  meshListen?: string
  meshMember?: string[]
  meshPeer?: string[]
  meshStartOffline?: boolean
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

/** The flags that join a node to the mesh: a `kind: Mesh` file, or the same fields one by one. */
export function withMeshOptions(cmd: Command): Command {
  return cmd
    .option('--mesh <file>', 'join the mesh as a `kind: Mesh` manifest says (docs/mesh.md); excludes the --mesh-* flags below')
    .option('--mesh-node <name>', "join the mesh under this name: the node's JetStream domain and its login at the hub, unique in the mesh")
    .option('--mesh-cluster <name>', "the node's cluster")
    .option('--mesh-role <role>', 'hub (leaf nodes connect to it) or leaf (connects to --mesh-hub)')
    .option('--mesh-hub <url>', "a leaf's hub, nats-leaf://host:port; for a hub, another cluster's hub to federate with for public events (repeatable)", collect)
    .option('--mesh-credentials <file>', "this node's login at its hub(s), made by `omni mesh credentials`")
    .option('--mesh-listen <host:port>', 'hub only: where leaf nodes connect')
    .option('--mesh-member <node@cluster=file>', 'hub only: a node that may join, with the credentials file it logs in with (repeatable)', collect)
    .option('--mesh-peer <node@cluster[:tenants]>', "a node whose events this node receives: cluster and public events of its own cluster's nodes, public ones of another cluster's; after `:` the tenants of this node its events may land in, comma-separated (default: default; '*': any) (repeatable)", collect)
    .option('--mesh-start-offline', 'start even when no hub answers (the leaf link connects once the hub is up)')
}

/**
 * The mesh configuration the options ask for, checked (credential files read), or undefined when
 * they ask for none; `warn` hears what does not stop the node (a credentials file others can read).
 */
export async function meshConfigFrom(opts: MeshCliOptions, warn: (message: string) => void = () => {}): Promise<MeshConfig | undefined> {
  const flags = usedFlags(opts)
  if (opts.mesh !== undefined) {
    if (flags.length > 0) throw omniError('OMNI_ERR_CONFIG', `--mesh ${opts.mesh} and ${flags.join(', ')} exclude each other: put everything in the manifest, or use only the flags`)
    return loadMeshManifest(resolve(opts.mesh), warn)
  }
  if (flags.length === 0) return undefined
  // the same document a manifest holds, through the same checks; problems name the flag
  return compiledOrThrow(await compileMeshDocument(flagDocument(opts), process.cwd()), 'the --mesh-* flags', warn)
}

/** `node@cluster`, or `node@cluster=file` for a member; a malformed one names its flag. */
function splitNode(text: string, flag: string, withFile: boolean): { node: string; cluster: string; credentials?: string } {
  const m = (withFile ? /^([^@=\s]+)@([^@=\s]+)=(.+)$/ : /^([^@=\s]+)@([^@=\s]+)$/).exec(text)
  if (!m) throw omniError('OMNI_ERR_CONFIG', `${flag} "${text}" must be ${withFile ? 'NODE@CLUSTER=FILE' : 'NODE@CLUSTER'}, e.g. ${withFile ? 'a1@a=a1.json' : 'a2@a'}`)
  return { node: m[1] as string, cluster: m[2] as string, ...(withFile ? { credentials: m[3] as string } : {}) }
}

/** `node@cluster` or `node@cluster:t1,t2` (the tenants its events may land in); a malformed one names its flag. */
function splitPeer(text: string): { node: string; cluster: string; tenants?: string[] } {
  const colon = text.indexOf(':')
  const peer = splitNode(colon < 0 ? text : text.slice(0, colon), '--mesh-peer', false)
  if (colon < 0) return peer
  const tenants = text.slice(colon + 1).split(',')
  if (tenants.some((x) => x === '')) throw omniError('OMNI_ERR_CONFIG', `--mesh-peer "${text}" must be NODE@CLUSTER or NODE@CLUSTER:TENANT[,TENANT…], e.g. a2@a:default,acme`)
  return { ...peer, tenants }
}

/** The flags as a `kind: Mesh` document whose problems are located at the flag that gave each field. */
function flagDocument(o: MeshCliOptions): YamlManifest {
  const value = {
    kind: 'Mesh',
    ...(o.meshNode !== undefined ? { node: o.meshNode } : {}),
    ...(o.meshCluster !== undefined ? { cluster: o.meshCluster } : {}),
    ...(o.meshRole !== undefined ? { role: o.meshRole } : {}),
    ...(o.meshHub ? { hubs: o.meshHub } : {}),
    ...(o.meshCredentials !== undefined ? { credentials: o.meshCredentials } : {}),
    ...(o.meshListen !== undefined ? { listen: o.meshListen } : {}),
    ...(o.meshMember ? { members: o.meshMember.map((m) => splitNode(m, '--mesh-member', true)) } : {}),
    ...(o.meshPeer ? { peers: o.meshPeer.map(splitPeer) } : {}),
    ...(o.meshStartOffline ? { startOffline: true } : {}),
  }
  const listed = (flag: string, list: readonly string[] | undefined, i: PathSegment | undefined) => (typeof i === 'number' && list?.[i] !== undefined ? `${flag} ${list[i]}` : flag)
  const locate = (path: readonly PathSegment[]): string => {
    const [field, i] = path
    switch (field) {
      case 'hubs':
        return listed('--mesh-hub', o.meshHub, i)
      case 'members':
        return listed('--mesh-member', o.meshMember, i)
      case 'peers':
        return listed('--mesh-peer', o.meshPeer, i)
      case 'node':
      case 'cluster':
      case 'role':
      case 'credentials':
      case 'listen':
        return `--mesh-${field}`
      case 'startOffline':
        return '--mesh-start-offline'
      default:
        return 'the --mesh-* flags'
    }
  }
  return { file: 'the --mesh-* flags', value, locate }
}

function usedFlags(o: MeshCliOptions): string[] {
  const set: [unknown, string][] = [
    [o.meshNode, '--mesh-node'],
    [o.meshCluster, '--mesh-cluster'],
    [o.meshRole, '--mesh-role'],
    [o.meshHub, '--mesh-hub'],
    [o.meshCredentials, '--mesh-credentials'],
    [o.meshListen, '--mesh-listen'],
    [o.meshMember, '--mesh-member'],
    [o.meshPeer, '--mesh-peer'],
    [o.meshStartOffline, '--mesh-start-offline'],
  ]
  return set.filter(([v]) => v !== undefined).map(([, flag]) => flag)
}
