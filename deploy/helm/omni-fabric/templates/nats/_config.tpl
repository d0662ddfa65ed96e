{{/*
nats.conf of the chart's NATS. It holds no secret: logins come from files of the Secrets, which
the pod's projected volume puts beside it under secret/ (nats-server reads `include` paths
relative to the file), and the server name from the pod's name ($SERVER_NAME).
*/}}
{{- define "omni.natsConfig" -}}
{{- $full := include "omni.fullname" . -}}
{{- $mesh := .Values.mesh -}}
server_name: $SERVER_NAME
listen: "0.0.0.0:4222"
# health and monitoring (/healthz, /varz); the NetworkPolicy admits no one from outside to it
http: "0.0.0.0:8222"
# 8 MiB: a raw webhook archive of a 1 MiB body is larger once JSON-encoded (src/server/options.ts)
max_payload: 8388608
# the preStop hook signals lame duck mode through it
pid_file: "/tmp/nats.pid"
# lame duck mode (the preStop hook): stop taking clients, then move them off over 30 s
lame_duck_grace_period: "5s"
lame_duck_duration: "30s"
{{- if $mesh.enabled }}
authorization {
  users: [
    # the platform: everything on its own server but sending as a mesh delivery or calling another domain's JetStream API (PLATFORM_PERMISSIONS)
    { include "secret/nats/credentials.json", permissions: { publish: { deny: ["mesh.dlv.>", "$JS.*.API.>"] } }, allowed_connection_types: ["STANDARD"] }
{{- range $mesh.members }}
    { include "secret/members/{{ .node }}.json", permissions: {{ include "omni.mesh.memberPermissions" (dict "hubCluster" $mesh.cluster "node" .node "cluster" .cluster) }}, allowed_connection_types: ["LEAFNODE"] }
{{- end }}
  ]
}
{{- else }}
authorization {
  include "secret/nats/credentials.json"
}
{{- end }}
jetstream {
  store_dir: "/data/jetstream"
  sync_interval: {{ .Values.nats.jetstream.syncInterval }}
  # 75% of the PVC (nats-server's default share of a fresh volume), fixed: each stream's max_bytes
  # is reserved against it, and a fuller disk at a restart must not shrink it (omni.natsMaxFileStore)
  max_file_store: {{ include "omni.natsMaxFileStore" . }}
{{- if $mesh.enabled }}
  domain: {{ $mesh.node | quote }}
{{- end }}
}
{{- if gt (int .Values.nats.replicas) 1 }}
cluster {
  name: {{ printf "%s-nats" $full | quote }}
  listen: "0.0.0.0:6222"
  # the routes' login and the route URLs that carry it (a Secret the chart makes): without it any
  # pod that reaches port 6222 could join the cluster and read every message
  include "secret/routes/routes.conf"
}
{{- end }}
{{- if and $mesh.enabled (or (eq $mesh.role "hub") $mesh.hubs) }}
leafnodes {
{{- if eq $mesh.role "hub" }}
  host: "0.0.0.0"
  port: {{ $mesh.leafnodePort }}
{{- end }}
{{- if $mesh.hubs }}
  remotes: [
    # the hub URLs carry this node's login, so they come from the Secret (secret/mesh/remote-urls.conf)
    { include "secret/mesh/remote-urls.conf", ignore_discovered_servers: true, deny_imports: {{ include "omni.mesh.linkDenies" . }}, deny_exports: {{ include "omni.mesh.linkDenies" . }} }
  ]
{{- end }}
}
{{- end }}
{{- end -}}
