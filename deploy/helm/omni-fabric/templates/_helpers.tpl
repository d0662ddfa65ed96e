{{/* Names, labels and the values every template shares. */}}

{{- define "omni.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-omni-fabric, or the release name when it already holds the chart name; at most 40 characters so suffixes (-nats-headless) stay within 63. */}}
{{- define "omni.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "omni.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "omni.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: platform, nats or test. */}}
{{- define "omni.selector" -}}
app.kubernetes.io/name: {{ include "omni.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "omni.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "omni.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ClickHouse runs in the platform's process: the platform is then a single-replica StatefulSet. */}}
{{- define "omni.embeddedClickHouse" -}}
{{- if and .Values.clickhouse.enabled (not .Values.clickhouse.url) -}}true{{- end -}}
{{- end -}}

{{/* The platform image: the -full variant carries the embedded ClickHouse engine, -slim does not. */}}
{{- define "omni.image" -}}
{{- $variant := ternary "full" "slim" (eq (include "omni.embeddedClickHouse" .) "true") -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "%s-%s" .Chart.AppVersion $variant) .Values.image.tag) -}}
{{- end -}}

{{- define "omni.natsImage" -}}
{{- if .Values.nats.image.repository -}}
{{- printf "%s:%s" .Values.nats.image.repository (required "nats.image.tag is required with nats.image.repository" .Values.nats.image.tag) -}}
{{- else -}}
{{- include "omni.image" . -}}
{{- end -}}
{{- end -}}

{{/* The chart's own NATS: when no nats.url is given. */}}
{{- define "omni.natsBuiltIn" -}}
{{- if not .Values.nats.url -}}true{{- end -}}
{{- end -}}

{{- define "omni.natsUrl" -}}
{{- if .Values.nats.url -}}
{{- .Values.nats.url -}}
{{- else -}}
{{- printf "nats://%s-nats.%s.svc:4222" (include "omni.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "omni.natsSecret" -}}
{{- default (printf "%s-nats" (include "omni.fullname" .)) .Values.nats.existingSecret -}}
{{- end -}}
{{- define "omni.tokensSecret" -}}
{{- default (printf "%s-api-tokens" (include "omni.fullname" .)) .Values.api.tokens.existingSecret -}}
{{- end -}}
{{- define "omni.clickhouseSecret" -}}
{{- default (printf "%s-clickhouse" (include "omni.fullname" .)) .Values.clickhouse.existingSecret -}}
{{- end -}}
{{- define "omni.webhooksSecret" -}}
{{- default (printf "%s-webhooks" (include "omni.fullname" .)) .Values.webhooks.existingSecret -}}
{{- end -}}
{{- define "omni.meshSecret" -}}
{{- default (printf "%s-mesh" (include "omni.fullname" .)) .Values.mesh.existingSecret -}}
{{- end -}}
{{- define "omni.meshMembersSecret" -}}
{{- default (printf "%s-mesh-members" (include "omni.fullname" .)) .Values.mesh.membersSecret -}}
{{- end -}}

{{/*
A secret value kept across upgrades: the one already in the cluster (lookup answers nothing under
`helm template` and `--dry-run`), else the given one, else 32 random characters.
*/}}
{{- define "omni.keepSecret" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else if .value -}}
{{- .value -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod and container of the chart. */}}
{{- define "omni.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "omni.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Checksums of the secret values the chart is given (not the random ones it makes, which are kept
across upgrades): the pods read them only at start, so a change must change the pod template and
roll them. A SHA-256 of all of them together, as other charts put their Secret's checksum there.
*/}}
{{- define "omni.platformSecretsChecksum" -}}
{{- $v := .Values -}}
{{- dict "tenants" $v.api.tokens.tenants "webhooks" $v.webhooks.secrets "clickhouse" $v.clickhouse.password "mesh" $v.mesh.credentials | toJson | sha256sum -}}
{{- end -}}
{{- define "omni.natsSecretsChecksum" -}}
{{- dict "mesh" .Values.mesh.credentials | toJson | sha256sum -}}
{{- end -}}

{{/* Bytes of a Kubernetes quantity (10Gi, 500M) or a platform byte size (8GiB; none is 0), as an integer. */}}
{{- define "omni.bytes" -}}
{{- $s := toString . -}}
{{- if eq $s "none" -}}0{{- else -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $s -}}
{{- $unit := trimSuffix "B" (trimPrefix $num $s) -}}
{{- $mult := dict "" 1.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 -}}
{{- mulf (float64 $num) (index $mult $unit) | int64 -}}
{{- end -}}
{{- end -}}

{{/*
The chart's NATS JetStream storage limit (max_file_store): 75% of the PVC, what nats-server takes
of a fresh volume by default, but fixed, so a fuller disk at a restart does not shrink it below
what the streams have reserved.
*/}}
{{- define "omni.natsMaxFileStore" -}}
{{- mulf (include "omni.bytes" .Values.nats.jetstream.storage.size | float64) 0.75 | int64 -}}
{{- end -}}

{{/*
What the platform's streams reserve on that storage (JetStream reserves each stream's max_bytes):
the events stream and the raw archive at their limits; with the mesh two outboxes of 1 GiB and an
inbox per peer at the events stream's limit.
*/}}
{{- define "omni.reservedBytes" -}}
{{- $events := include "omni.bytes" .Values.platform.streamMaxBytes | int64 -}}
{{- $total := add $events (include "omni.bytes" .Values.platform.rawMaxBytes | int64) -}}
{{- if .Values.mesh.enabled -}}
{{- $peers := list -}}{{- range .Values.mesh.peers }}{{ $peers = append $peers .node }}{{ end -}}
{{- $total = add $total (mul 2 1073741824) (mul (len (uniq $peers)) $events) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* `--replicas`: platform.streamReplicas, else one copy per server of the chart's NATS (1 with nats.url). */}}
{{- define "omni.streamReplicas" -}}
{{- if gt (int .Values.platform.streamReplicas) 0 -}}
{{- .Values.platform.streamReplicas -}}
{{- else if .Values.nats.url -}}
1
{{- else -}}
{{- .Values.nats.replicas -}}
{{- end -}}
{{- end -}}

{{/* Refusals the schema cannot express. */}}
{{- define "omni.validate" -}}
{{- if and (not .Values.nats.url) (gt (int .Values.platform.streamReplicas) (int .Values.nats.replicas)) -}}
{{- fail (printf "platform.streamReplicas: %d copies of each stream need as many NATS servers, and nats.replicas is %d (the platform would refuse to start)" (int .Values.platform.streamReplicas) (int .Values.nats.replicas)) -}}
{{- end -}}
{{- if and .Values.mesh.enabled (eq .Values.mesh.role "leaf") (not .Values.mesh.hubs) -}}
{{- fail "mesh.hubs: a leaf needs at least one hub (nats-leaf://host:port)" -}}
{{- end -}}
{{- if and .Values.mesh.enabled (eq .Values.mesh.role "leaf") .Values.mesh.members -}}
{{- fail "mesh.members: only a hub admits members; a leaf joins its hubs" -}}
{{- end -}}
{{- if and .Values.mesh.enabled .Values.mesh.hubs (not .Values.mesh.existingSecret) (or (not .Values.mesh.credentials.user) (not .Values.mesh.credentials.password)) -}}
{{- fail "mesh.credentials: user and password (from `omni mesh credentials`) are needed to join mesh.hubs, or name a Secret in mesh.existingSecret" -}}
{{- end -}}
{{- if and .Values.mesh.enabled .Values.nats.url -}}
{{- fail "mesh.enabled with nats.url: the chart writes the mesh's leaf-node settings into its own NATS only; on an existing server set its JetStream domain, leaf nodes and permissions yourself (docs/mesh.md) and run without mesh.enabled" -}}
{{- end -}}
{{- if and .Values.nats.url (not .Values.nats.existingSecret) -}}
{{- fail "nats.existingSecret: with nats.url the platform logs in to your server with credentials.json from a Secret you name; the chart cannot make a login that server knows (and a server without auth would take the platform unauthenticated)" -}}
{{- end -}}
{{- if and .Values.clickhouse.enabled .Values.clickhouse.url (not .Values.clickhouse.existingSecret) (not .Values.clickhouse.password) -}}
{{- fail "clickhouse.password: a ClickHouse server (clickhouse.url) needs a password, in clickhouse.password or in a Secret named by clickhouse.existingSecret (key password); the chart does not log in with an empty one" -}}
{{- end -}}
{{- if and .Values.mesh.enabled (eq .Values.mesh.role "hub") (has (int .Values.mesh.leafnodePort) (list 4222 6222 8222)) -}}
{{- fail "mesh.leafnodePort: 4222, 6222 and 8222 are the NATS client, route and monitoring ports; pick another (7422 is the usual leaf-node port)" -}}
{{- end -}}
{{- if .Values.mesh.enabled -}}
{{- range $list := list "members" "peers" -}}
{{- $seen := dict -}}
{{- range index $.Values.mesh $list -}}
{{- if eq .node $.Values.mesh.node -}}
{{- fail (printf "mesh.%s: %q is this node's own name (mesh.node); each name is a JetStream domain, so the two would clash" $list .node) -}}
{{- end -}}
{{- if and (eq $list "members") (eq .node "omni") (not $.Values.mesh.membersSecret) -}}
{{- fail "mesh.members: \"omni\" is the platform's own NATS login on this server, and the chart makes each member's login with its node name (nats-server would refuse the duplicate user); give the node another name" -}}
{{- end -}}
{{- if hasKey $seen .node -}}
{{- fail (printf "mesh.%s: %q is listed twice" $list .node) -}}
{{- end -}}
{{- $_ := set $seen .node true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range .Values.platform.extraEnv -}}
{{- if has .name (list "OMNI_NATS_CREDENTIALS" "OMNI_CLICKHOUSE_PASSWORD") -}}
{{- fail (printf "platform.extraEnv: %s is set by the chart from its Secret; give the value through nats.existingSecret or clickhouse.password / clickhouse.existingSecret" .name) -}}
{{- end -}}
{{- if regexMatch "(?i)(PASSWORD|SECRET|TOKEN|APIKEY|API_KEY|CREDENTIALS)" .name -}}
{{- fail (printf "platform.extraEnv: %s looks like a secret, and extraEnv values are plain text in the pod spec; put it in webhooks.secrets or webhooks.existingSecret (every key becomes a variable)" .name) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) -}}
{{- fail "autoscaling.maxReplicas must be at least autoscaling.minReplicas" -}}
{{- end -}}
{{- if and .Values.manifests.existingConfigMap .Values.manifests.files -}}
{{- fail "manifests: give either existingConfigMap or files, not both" -}}
{{- end -}}
{{- range $path, $_ := .Values.manifests.files -}}
{{- if contains "__" $path -}}
{{- fail (printf "manifests.files: %q holds \"__\", which the chart uses for \"/\" in ConfigMap keys (two paths could become one key and a file be lost); rename it" $path) -}}
{{- end -}}
{{- range splitList "/" $path -}}
{{- if or (eq . ".") (eq . "..") -}}
{{- fail (printf "manifests.files: %q has a . or .. segment; give a path inside the manifests folder (pipelines/x.yaml)" $path) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.webhooks.existingSecret .Values.webhooks.secrets -}}
{{- fail "webhooks: give either existingSecret or secrets, not both (the secrets would be ignored)" -}}
{{- end -}}
{{- if and .Values.clickhouse.existingSecret .Values.clickhouse.password -}}
{{- fail "clickhouse: give either existingSecret or password, not both (the password would be ignored)" -}}
{{- end -}}
{{- if and .Values.mesh.existingSecret (or .Values.mesh.credentials.user .Values.mesh.credentials.password) -}}
{{- fail "mesh: give either existingSecret or credentials, not both (the credentials would be ignored)" -}}
{{- end -}}
{{- if eq (include "omni.natsBuiltIn" .) "true" -}}
{{- $reserved := include "omni.reservedBytes" . | int64 -}}
{{- $store := include "omni.natsMaxFileStore" . | int64 -}}
{{- if gt $reserved $store -}}
{{- fail (printf "nats.jetstream.storage.size: the platform's streams reserve %.1f GiB (platform.streamMaxBytes + platform.rawMaxBytes%s), more than the %.1f GiB JetStream takes of a %s volume (75%%): omni up would stop with \"insufficient storage resources available\". Raise nats.jetstream.storage.size to at least %.0fGi or lower those limits" (divf $reserved 1073741824.0) (ternary ", and with the mesh 2 outboxes of 1 GiB and an inbox per peer at streamMaxBytes" "" .Values.mesh.enabled) (divf $store 1073741824.0) .Values.nats.jetstream.storage.size (ceil (divf $reserved 805306368.0))) -}}
{{- end -}}
{{- end -}}
{{- if ge (int .Values.platform.preStopSleepSeconds) (int .Values.platform.terminationGracePeriodSeconds) -}}
{{- fail "platform.preStopSleepSeconds must be less than platform.terminationGracePeriodSeconds, or the pod is killed before it drains" -}}
{{- end -}}
{{- end -}}
