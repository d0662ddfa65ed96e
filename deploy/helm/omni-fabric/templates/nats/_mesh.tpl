{{/*
The mesh's nats-server settings, written as src/mesh/permissions.ts (memberPermissions) and
src/mesh/link-denies.ts (linkDenies) write them for a node that runs its own server.
test/helm/nats-config.test.ts renders both and compares them entry by entry, so they cannot drift.
*/}}

{{/* A list of subjects as nats-server takes it (quote, not toJson: that writes > as \u003e). */}}
{{- define "omni.subjects" -}}
{{- $q := list -}}{{- range . }}{{ $q = append $q (. | quote) }}{{ end -}}
[{{ join ", " $q }}]
{{- end -}}

{{/* Consumer-create requests for an outbox, both subject forms. */}}
{{- define "omni.mesh.create" -}}
{{- $s := printf "$JS.%s.API.CONSUMER.CREATE.%s" .domain .stream -}}
{{- list $s (printf "%s.>" $s) | toJson -}}
{{- end -}}

{{/* What the hub lets one member do (memberPermissions). ctx: hubCluster, node, cluster. */}}
{{- define "omni.mesh.memberPermissions" -}}
{{- $n := .node -}}{{- $c := .cluster -}}
{{- $cc := include "omni.mesh.create" (dict "domain" "*" "stream" "MESH_CLUSTER") | fromJsonArray -}}
{{- $cp := include "omni.mesh.create" (dict "domain" "*" "stream" "MESH_PUBLIC") | fromJsonArray -}}
{{- if eq .hubCluster $c -}}
{{- $pub := concat (list (printf "mesh.dlv.%s.%s.>" $c $n)) $cc $cp (list "$JS.FC.MESH_CLUSTER.>" "$JS.FC.MESH_PUBLIC.>" "$JSC.R.>" (printf "mesh.hello.%s.%s" $c $n)) -}}
{{- $ownC := include "omni.mesh.create" (dict "domain" $n "stream" "MESH_CLUSTER") | fromJsonArray -}}
{{- $ownP := include "omni.mesh.create" (dict "domain" $n "stream" "MESH_PUBLIC") | fromJsonArray -}}
{{- $dc := printf "mesh.dlv.%s.*.cluster.%s" $c $n -}}{{- $dp := printf "mesh.dlv.*.*.public.%s" $n -}}
{{- $sub := concat (list $dc (printf "%s.>" $dc) $dp (printf "%s.>" $dp)) $ownC $ownP (list "$JS.FC.MESH_CLUSTER.>" "$JS.FC.MESH_PUBLIC.>" "$JSC.R.>" "mesh.hello.>") -}}
{ publish: { allow: {{ include "omni.subjects" $pub }} }, subscribe: { allow: {{ include "omni.subjects" $sub }} } }
{{- else -}}
{{- $pub := concat (list (printf "mesh.dlv.%s.*.public.>" $c)) $cp (list "$JS.FC.MESH_PUBLIC.>" "$JSC.R.>" (printf "mesh.hello.%s.*" $c)) -}}
{{- $sub := concat (list "mesh.dlv.*.*.public.>") $cp (list "$JS.FC.MESH_PUBLIC.>" "$JSC.R.>" "mesh.hello.>") -}}
{ publish: { allow: {{ include "omni.subjects" $pub }} }, subscribe: { allow: {{ include "omni.subjects" $sub }} } }
{{- end -}}
{{- end -}}

{{/* What this node's server never takes from or sends to its hub (linkDenies; one list both ways). */}}
{{- define "omni.mesh.linkDenies" -}}
{{- $m := .Values.mesh -}}
{{- $hub := eq $m.role "hub" -}}
{{- $verbs := list "$JS.*.API.INFO" "$JS.*.API.STREAM.>" "$JS.*.API.DIRECT.>" "$JS.*.API.ACCOUNT.>" "$JS.*.API.META.>" "$JS.*.API.SERVER.>" -}}
{{- range list "DURABLE" "NAMES" "LIST" "INFO" "DELETE" "PAUSE" "UNPIN" "LEADER" "MSG" "RESET" }}{{ $verbs = append $verbs (printf "$JS.*.API.CONSUMER.%s.>" .) }}{{ end -}}
{{- $streams := list "OMNI_EVENTS" "OMNI_DLQ" "OMNI_RAW" "KV_omni-dedup" "KV_omni-settled" "KV_omni-node" "KV_omni_plugin_approvals" "KV_omni_plugin_hwm" "KV_omni_cartridges_pending" "OBJ_omni_plugins" -}}
{{- $owners := list -}}{{- range $m.members }}{{ $owners = append $owners .node }}{{ end -}}{{- range $m.peers }}{{ $owners = append $owners .node }}{{ end -}}
{{- range uniq $owners }}{{ $streams = append $streams (printf "MESH_IN_%s" .) }}{{ end -}}
{{- if $hub }}{{ $streams = append $streams "MESH_CLUSTER" }}{{ end -}}
{{- $both := $verbs -}}
{{- range $streams }}{{ $both = concat $both (include "omni.mesh.create" (dict "domain" "*" "stream" .) | fromJsonArray) }}{{ end -}}
{{- $both = concat $both (list "omni.>" "$JS.ACK.>" "_INBOX.>" "$KV.>" "$O.>" "$JS.EVENT.>" "mesh.status" "mesh.status.>") -}}
{{- if $hub }}{{ $both = concat $both (list "mesh.dlv.*.*.cluster" "mesh.dlv.*.*.cluster.>" "$JS.FC.MESH_CLUSTER.>") }}{{ end -}}
{{- include "omni.subjects" $both -}}
{{- end -}}
