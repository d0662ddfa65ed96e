{{/* The `omni up` command line: only flags `omni up --help` lists (test/helm checks each one). */}}
{{- define "omni.platformArgs" -}}
{{- $v := .Values -}}
- up
- --nats={{ include "omni.natsUrl" . }}
- --data=/data
# the manifests come from a ConfigMap whose change rolls the pods (checksum annotation)
- --no-watch
- --log-level={{ $v.platform.logLevel }}
- --cluster={{ $v.platform.cluster }}
- --api-host=0.0.0.0
- --api-port={{ $v.api.port }}
- --tokens=/etc/omni/tokens/tokens.yaml
- --stream-max-bytes={{ $v.platform.streamMaxBytes }}
- --raw-max-bytes={{ $v.platform.rawMaxBytes }}
- --replicas={{ include "omni.streamReplicas" . }}
{{- if or $v.manifests.files $v.manifests.existingConfigMap }}
- --manifests=/etc/omni/manifests
{{- end }}
{{- if $v.plugins.trust.existingSecret }}
- --trust=/etc/omni/trust
{{- end }}
{{- if not $v.clickhouse.enabled }}
- --no-clickhouse
{{- else }}
{{- if $v.clickhouse.url }}
- --clickhouse-url={{ $v.clickhouse.url }}
- --clickhouse-user={{ $v.clickhouse.user }}
{{- end }}
- --clickhouse-database={{ $v.clickhouse.database }}
- --retention-events={{ $v.platform.retention.eventsDays }}
- --retention-raw={{ $v.platform.retention.rawDays }}
{{- end }}
{{- range $v.api.corsOrigins }}
- --cors-origin={{ . }}
{{- end }}
{{- if $v.mesh.enabled }}
- --mesh=/etc/omni/mesh/mesh.yaml
{{- end }}
{{- end -}}

{{/* The platform's mesh manifest (docs/mesh.md); its credentials files come from Secrets. */}}
{{- define "omni.meshManifest" -}}
{{- $m := .Values.mesh -}}
kind: Mesh
node: {{ $m.node }}
cluster: {{ $m.cluster }}
role: {{ $m.role }}
hubs: {{ toJson $m.hubs }}
{{- if $m.hubs }}
credentials: /etc/omni/mesh/credentials.json
{{- end }}
{{- if eq $m.role "hub" }}
listen: "0.0.0.0:{{ $m.leafnodePort }}"
members:
{{- range $m.members }}
  - { node: {{ .node }}, cluster: {{ .cluster }}, credentials: /etc/omni/mesh/members/{{ .node }}.json }
{{- else }} []
{{- end }}
{{- end }}
peers:
{{- range $m.peers }}
  - { node: {{ .node }}, cluster: {{ .cluster }}{{ with .tenants }}, tenants: {{ toJson . }}{{ end }} }
{{- else }} []
{{- end }}
startOffline: {{ $m.startOffline }}
{{- end -}}
