{{/* ---------------------------------------------------------------- names and labels */}}

{{- define "cg.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cg.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names of the two workloads: "<fullname>-api", "<fullname>-worker" (kept under 63 chars). */}}
{{- define "cg.componentName" -}}
{{- printf "%s-%s" (include "cg.fullname" .root | trunc 56 | trimSuffix "-") .component }}
{{- end }}

{{- define "cg.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "cg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: collection-gateway
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "api"). */}}
{{- define "cg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cg.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cg.componentLabels" -}}
{{ include "cg.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "cg.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cg.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cg.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "cg.configPath" -}}
/etc/collection-gateway/gateway.toml
{{- end }}

{{/* ---------------------------------------------------------------- TOML rendering

Helm's own toToml writes every number as a float (values.yaml numbers reach templates as
float64), so `client_global_id = 4711` would come out as `4711.0` and the gateway would reject it.
These templates write integral numbers as TOML integers, strings as JSON-escaped basic strings
(JSON's escapes are a subset of TOML's; DEL, which JSON leaves raw and TOML forbids raw, is
escaped on top, although helm refuses DEL in values before it gets here), maps as [tables], lists of maps as [[arrays of tables]],
and leave out nulls (TOML has none).
*/}}

{{- define "cg.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/* "true" when the value is a non-empty list whose items are all maps (an array of tables). */}}
{{- define "cg.toml.isTableArray" -}}
{{- if and (kindIs "slice" .) (gt (len .) 0) }}
{{- $all := true }}
{{- range . }}{{ if not (kindIs "map" .) }}{{ $all = false }}{{ end }}{{ end }}
{{- if $all }}true{{ end }}
{{- end }}
{{- end }}

{{- define "cg.toml.value" -}}
{{- $v := . }}
{{- if kindIs "string" $v }}{{ toJson $v | replace "\u007f" "\\u007f" }}
{{- else if kindIs "bool" $v }}{{ ternary "true" "false" $v }}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) }}{{ printf "%d" $v }}
{{- else if kindIs "float64" $v }}
{{- if eq (float64 (int64 $v)) $v }}{{ printf "%d" (int64 $v) }}{{ else }}{{ printf "%v" $v }}{{ end }}
{{- else if kindIs "slice" $v }}
{{- $items := list }}
{{- range $v }}{{ $items = append $items (include "cg.toml.value" .) }}{{ end }}
{{- printf "[%s]" (join ", " $items) }}
{{- else if kindIs "map" $v }}
{{- $pairs := list }}
{{- range $k := keys $v | sortAlpha }}
{{- $item := get $v $k }}
{{- if not (kindIs "invalid" $item) }}
{{- $pairs = append $pairs (printf "%s = %s" (include "cg.toml.key" $k) (include "cg.toml.value" $item)) }}
{{- end }}
{{- end }}
{{- printf "{ %s }" (join ", " $pairs) }}
{{- else }}
{{- fail (printf "cannot write %v (%s) as TOML" $v (kindOf $v)) }}
{{- end }}
{{- end }}

{{/* A table's body: its plain keys first (they belong under its header), then sub-tables.
     Call with (dict "table" $map "path" (list "tenants" "acme")). */}}
{{- define "cg.toml.table" -}}
{{- $table := .table }}
{{- $path := .path }}
{{- range $key := keys $table | sortAlpha }}
{{- $value := get $table $key }}
{{- if not (or (kindIs "invalid" $value) (kindIs "map" $value) (include "cg.toml.isTableArray" $value)) }}
{{ include "cg.toml.key" $key }} = {{ include "cg.toml.value" $value }}
{{- end }}
{{- end }}
{{- range $key := keys $table | sortAlpha }}
{{- $value := get $table $key }}
{{- $sub := append $path (include "cg.toml.key" $key) }}
{{- if kindIs "map" $value }}

[{{ join "." $sub }}]
{{- include "cg.toml.table" (dict "table" $value "path" $sub) }}
{{- else if include "cg.toml.isTableArray" $value }}
{{- range $item := $value }}

[[{{ join "." $sub }}]]
{{- include "cg.toml.table" (dict "table" $item "path" $sub) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- the gateway config

The TOML document of config.md: `.Values.config` as written, plus the keys the chart owns.
`run_worker = false`: delivery runs in the separate worker Deployment, never inside API pods.
*/}}
{{- define "cg.config" -}}
{{- include "cg.validate" . }}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $_ := set $config "run_worker" false }}
{{- if not .Values.redis.existingSecret }}
{{- $_ := set $config "store_url" .Values.redis.url }}
{{- end }}
{{- include "cg.toml.table" (dict "table" $config "path" list) | trimPrefix "\n" }}
{{- end }}

{{/* The environment variables the config names (`*_env` in tenant credentials, `key_env` in
     api_keys, `webhooks.secret_key_env`): each one is set from a Secret. Returns a JSON list,
     sorted and unique. */}}
{{- define "cg.secretEnvNames" -}}
{{- $names := list }}
{{- $config := .Values.config | default dict }}
{{- range $tenant := values ($config.tenants | default dict) }}
{{- range $credential := values ($tenant.credentials | default dict) }}
{{- range $key, $value := $credential }}
{{- if hasSuffix "_env" $key }}{{ $names = append $names (toString $value) }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $key := $config.api_keys | default list }}
{{- if $key.key_env }}{{ $names = append $names (toString $key.key_env) }}{{ end }}
{{- end }}
{{- with $config.webhooks }}{{ if .secret_key_env }}{{ $names = append $names (toString .secret_key_env) }}{{ end }}{{ end }}
{{- $names | uniq | sortAlpha | toJson }}
{{- end }}

{{/* Refuses, at render time, values that would put a secret into the ConfigMap or produce a
     config whose secrets cannot be resolved in the pod. The gateway itself checks the rest at
     start (unknown agencies, rules without credentials, ...). */}}
{{- define "cg.validate" -}}
{{- $config := .Values.config | default dict }}
{{- $owned := dict "store_url" "redis.url or redis.existingSecret" "run_worker" "the worker Deployment (worker.*)" "host" "the chart (the API listens on 0.0.0.0)" "port" "api.containerPort" "workers" "api.processes" }}
{{- range $key, $instead := $owned }}
{{- if hasKey $config $key }}
{{- fail (printf "config.%s: set by the chart; use %s" $key $instead) }}
{{- end }}
{{- end }}
{{- $secretLike := "(?i)(secret|token|password|passwd|pwd|private|api_?key|credential)" }}
{{- range $tenantName, $tenant := $config.tenants | default dict }}
{{- range $agency, $credential := $tenant.credentials | default dict }}
{{- range $key, $value := $credential }}
{{- $at := printf "config.tenants.%s.credentials.%s.%s" $tenantName $agency $key }}
{{- if not (or (hasSuffix "_env" $key) (hasSuffix "_file" $key)) }}
{{- if regexMatch $secretLike $key }}
{{- fail (printf "%s: looks like a secret and would land in a ConfigMap; put it in the Secret and write %s_env: <VARIABLE> instead" $at $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $index, $key := $config.api_keys | default list }}
{{- if not $key.key_env }}
{{- fail (printf "config.api_keys[%d]: needs key_env (the API key comes from the Secret)" $index) }}
{{- end }}
{{- if hasKey $key "key_sha256" }}
{{- fail (printf "config.api_keys[%d].key_sha256: not used by this chart; keys come from the Secret through key_env" $index) }}
{{- end }}
{{- end }}
{{- $names := include "cg.secretEnvNames" . | fromJsonArray }}
{{- range $name := $names }}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $name) }}
{{- fail (printf "environment variable name %q (a *_env reference in config) is not a valid variable name" $name) }}
{{- end }}
{{- if hasPrefix "CG_" $name }}
{{- fail (printf "environment variable %s: CG_* variables override gateway settings; pick another name for a secret" $name) }}
{{- end }}
{{- if not (or $.Values.secrets.existingSecret (hasKey ($.Values.secrets.env | default dict) $name)) }}
{{- fail (printf "config references the environment variable %s: set secrets.existingSecret (a Secret holding a key %s) or secrets.env.%s" $name $name $name) }}
{{- end }}
{{- end }}
{{- if .Values.redis.existingSecret }}
{{- else if not .Values.redis.url }}
{{- fail "redis.url or redis.existingSecret is required: API and worker share their state through Redis" }}
{{- else if not (regexMatch "^(redis|rediss|unix)://" .Values.redis.url) }}
{{- fail (printf "redis.url: %q is not a redis://, rediss:// or unix:// URL (the in-memory store cannot be shared by separate pods)" .Values.redis.url) }}
{{- else if contains "@" .Values.redis.url }}
{{- fail "redis.url: holds credentials and would land in a ConfigMap; put the URL in a Secret and set redis.existingSecret" }}
{{- end }}
{{- end }}

{{/* ---------------------------------------------------------------- pod parts shared by api and worker */}}

{{- define "cg.env" -}}
- name: CG_CONFIG
  value: {{ include "cg.configPath" . | quote }}
{{- if .Values.redis.existingSecret }}
- name: CG_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret | quote }}
      key: {{ .Values.redis.existingSecretKey | quote }}
{{- end }}
{{- range $name := include "cg.secretEnvNames" . | fromJsonArray }}
{{- $ref := get ($.Values.secrets.env | default dict) $name | default dict }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name | default $.Values.secrets.existingSecret | quote }}
      key: {{ $ref.key | default $name | quote }}
{{- end }}
{{- end }}

{{- define "cg.volumes" -}}
- name: config
  configMap:
    name: {{ include "cg.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit | quote }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "cg.volumeMounts" -}}
- name: config
  mountPath: /etc/collection-gateway
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Egress both workloads need: DNS, Redis, the agencies. Nothing else leaves the pods. */}}
{{- define "cg.egressRules" -}}
{{- $np := .Values.networkPolicy -}}
- to:
    {{- toYaml $np.dns.to | nindent 4 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
- to:
    {{- toYaml $np.redis.to | nindent 4 }}
  ports:
    {{- range $np.redis.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
- to:
    {{- toYaml $np.agencies.to | nindent 4 }}
  ports:
    {{- range $np.agencies.ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
