{{/* Names ---------------------------------------------------------------------------------------------- */}}

{{- define "specstack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "specstack.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "specstack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names, shortened so that the 63-character limit holds with the suffixes. */}}
{{- define "specstack.engineName" -}}
{{- printf "%s-engine" (include "specstack.fullname" . | trunc 50 | trimSuffix "-") -}}
{{- end -}}
{{- define "specstack.plainEngineName" -}}
{{- printf "%s-engine-plain" (include "specstack.fullname" . | trunc 50 | trimSuffix "-") -}}
{{- end -}}
{{- define "specstack.gatewayName" -}}
{{- printf "%s-gateway" (include "specstack.fullname" . | trunc 50 | trimSuffix "-") -}}
{{- end -}}
{{- define "specstack.keysSecretName" -}}
{{- if .Values.gateway.apiKeys.existingSecret -}}
{{- .Values.gateway.apiKeys.existingSecret -}}
{{- else -}}
{{- printf "%s-gateway-keys" (include "specstack.fullname" . | trunc 45 | trimSuffix "-") -}}
{{- end -}}
{{- end -}}
{{- define "specstack.modelsClaimName" -}}
{{- default (printf "%s-models" (include "specstack.fullname" . | trunc 50 | trimSuffix "-")) .Values.modelStorage.pvc.existingClaim -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------------------------------------ */}}

{{- define "specstack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "specstack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "specstack.labels" -}}
helm.sh/chart: {{ include "specstack.chart" . }}
{{ include "specstack.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: specstack
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Engine pods: selector labels of one pool. Call with (dict "root" $ "pool" "main"|"plain"). */}}
{{- define "specstack.engineSelectorLabels" -}}
{{ include "specstack.selectorLabels" .root }}
app.kubernetes.io/component: engine
specstack.io/pool: {{ .pool }}
{{- end -}}

{{- define "specstack.gatewaySelectorLabels" -}}
{{ include "specstack.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "specstack.loadtestSelectorLabels" -}}
{{ include "specstack.selectorLabels" . }}
app.kubernetes.io/component: loadtest
{{- end -}}

{{/* Model and engine settings ------------------------------------------------------------------------------ */}}

{{- define "specstack.servedName" -}}
{{- default (base (trimSuffix "/" .Values.model.path)) .Values.model.servedName -}}
{{- end -}}

{{- define "specstack.gatewayModelName" -}}
{{- default (include "specstack.servedName" .) .Values.gateway.modelName -}}
{{- end -}}

{{- define "specstack.tensorParallel" -}}
{{- $tp := .Values.engine.tensorParallelSize -}}
{{- if kindIs "invalid" $tp -}}{{- $tp = max 1 (int .Values.engine.gpus) -}}{{- end -}}
{{- int $tp -}}
{{- end -}}

{{- define "specstack.engineImage" -}}
{{- $img := index .Values.engine .Values.engine.type "image" -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- end -}}

{{- define "specstack.gatewayImage" -}}
{{- printf "%s:%s" .Values.gateway.image.repository (default .Chart.AppVersion .Values.gateway.image.tag) -}}
{{- end -}}

{{/* Base URL of an engine pool's Service, as the gateway and the load test reach it. */}}
{{- define "specstack.engineURL" -}}
{{- $name := ternary (include "specstack.plainEngineName" .root) (include "specstack.engineName" .root) (eq .pool "plain") -}}
{{- printf "http://%s.%s.svc.%s:%d" $name .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.engine.port) -}}
{{- end -}}

{{/* A pool's headless Service (one DNS address per ready engine pod), as the gateway's dns+ upstream. */}}
{{- define "specstack.enginePodsURL" -}}
{{- $name := ternary (include "specstack.plainEngineName" .root) (include "specstack.engineName" .root) (eq .pool "plain") -}}
{{- printf "dns+http://%s-pods.%s.svc.%s:%d" $name .root.Release.Namespace .root.Values.clusterDomain (int .root.Values.engine.port) -}}
{{- end -}}

{{/* What the gateway routes to for a pool: its pods (routeToPods) or its Service. */}}
{{- define "specstack.gatewayUpstream" -}}
{{- if .root.Values.gateway.routeToPods -}}
{{- include "specstack.enginePodsURL" . -}}
{{- else -}}
{{- include "specstack.engineURL" . -}}
{{- end -}}
{{- end -}}

{{- define "specstack.gatewayURL" -}}
{{- printf "http://%s.%s.svc.%s:%d" (include "specstack.gatewayName" .) .Release.Namespace .Values.clusterDomain (int .Values.gateway.service.port) -}}
{{- end -}}

{{/*
Engine arguments, as a JSON list. Call with (dict "root" $ "speculative" true|false).
They mirror serving/engines/sglang.py and serving/engines/vllm.py (the launchers `specstack serve engine` uses),
so a pod serves exactly what a local run serves; tests/unit/test_helm.py compares the two.
*/}}
{{- define "specstack.engineArgs" -}}
{{- $v := .root.Values -}}
{{- $e := $v.engine -}}
{{- $tp := include "specstack.tensorParallel" .root | int -}}
{{- $k := int $v.speculation.numDraftTokens -}}
{{- $args := list -}}
{{- if eq $e.type "sglang" -}}
  {{- $args = concat $args (list "--model-path" $v.model.path "--served-model-name" (include "specstack.servedName" .root) "--host" "0.0.0.0" "--port" (toString (int $e.port)) "--dtype" $e.dtype "--max-running-requests" (toString (int $e.maxNumSeqs)) "--random-seed" (toString (int $e.seed)) "--mem-fraction-static" (toString $e.sglang.memFractionStatic) "--enable-metrics") -}}
  {{- if not (kindIs "invalid" $e.maxModelLen) -}}
    {{- $args = concat $args (list "--context-length" (toString (int $e.maxModelLen))) -}}
  {{- end -}}
  {{- if $e.toolCalls.enabled -}}
    {{- $args = concat $args (list "--tool-call-parser" (default "qwen25" $e.toolCalls.parser)) -}}
  {{- end -}}
  {{- if gt $tp 1 -}}
    {{- $args = concat $args (list "--tp-size" (toString $tp)) -}}
  {{- end -}}
  {{- if .speculative -}}
    {{- $s := $v.speculation.sglang -}}
    {{- $steps := $k -}}
    {{- if not (kindIs "invalid" $s.numSteps) -}}{{- $steps = int $s.numSteps -}}{{- end -}}
    {{- $tokens := add1 $steps -}}
    {{- if not (kindIs "invalid" $s.numDraftTokens) -}}{{- $tokens = int $s.numDraftTokens -}}{{- end -}}
    {{- if and (gt (int $s.eagleTopk) 1) (kindIs "invalid" $s.numDraftTokens) -}}
      {{- fail "speculation.sglang.numDraftTokens must be set when speculation.sglang.eagleTopk > 1" -}}
    {{- end -}}
    {{- $args = concat $args (list "--speculative-algorithm" "EAGLE3" "--speculative-draft-model-path" $v.model.draftPath "--speculative-num-steps" (toString $steps) "--speculative-eagle-topk" (toString (int $s.eagleTopk)) "--speculative-num-draft-tokens" (toString $tokens)) -}}
  {{- end -}}
{{- else -}}
  {{- $args = concat $args (list "--model" $v.model.path "--served-model-name" (include "specstack.servedName" .root) "--host" "0.0.0.0" "--port" (toString (int $e.port)) "--dtype" $e.dtype "--max-num-seqs" (toString (int $e.maxNumSeqs)) "--seed" (toString (int $e.seed))) -}}
  {{- if not (kindIs "invalid" $e.maxModelLen) -}}
    {{- $args = concat $args (list "--max-model-len" (toString (int $e.maxModelLen))) -}}
  {{- end -}}
  {{- if $e.vllm.enforceEager -}}
    {{- $args = append $args "--enforce-eager" -}}
  {{- end -}}
  {{- if $e.toolCalls.enabled -}}
    {{- $args = concat $args (list "--enable-auto-tool-choice" "--tool-call-parser" (default "hermes" $e.toolCalls.parser)) -}}
  {{- end -}}
  {{- if .speculative -}}
    {{- $spec := dict "method" "eagle3" "model" $v.model.draftPath "num_speculative_tokens" $k -}}
    {{- $args = concat $args (list "--speculative-config" (toJson $spec) "--per-request-spec-decode-metrics" "summary") -}}
  {{- end -}}
  {{- if gt (int $e.gpus) 0 -}}
    {{- $args = concat $args (list "--gpu-memory-utilization" (toString $e.vllm.gpuMemoryUtilization)) -}}
  {{- end -}}
  {{- if gt $tp 1 -}}
    {{- $args = concat $args (list "--tensor-parallel-size" (toString $tp)) -}}
  {{- end -}}
  {{- if not $e.vllm.accessLog -}}
    {{- $args = append $args "--disable-uvicorn-access-log" -}}
  {{- end -}}
{{- end -}}
{{- $args = concat $args $e.extraArgs -}}
{{- toJson $args -}}
{{- end -}}

{{/* The gateway's run config (a `gateway:` section, serving/gateway/config.py), as YAML. */}}
{{- define "specstack.gatewayConfig" -}}
{{- $v := .Values -}}
{{- $main := include "specstack.gatewayUpstream" (dict "root" . "pool" "main") -}}
{{- $spec := list -}}
{{- $plain := list -}}
{{- if $v.speculation.enabled -}}
  {{- $spec = list $main -}}
{{- else -}}
  {{- $plain = list $main -}}
{{- end -}}
{{- if $v.plainPool.enabled -}}
  {{- $plain = append $plain (include "specstack.gatewayUpstream" (dict "root" . "pool" "plain")) -}}
{{- end -}}
{{- $route := dict "speculative" $spec "plain" $plain "upstream_model" (include "specstack.servedName" .) -}}
{{- if and (not (kindIs "invalid" $v.gateway.specInflightThreshold)) $spec $plain -}}
  {{- $_ := set $route "spec_inflight_threshold" (int $v.gateway.specInflightThreshold) -}}
{{- end -}}
{{- if $v.gateway.requestExtra -}}
  {{- $_ := set $route "request_extra" $v.gateway.requestExtra -}}
{{- end -}}
{{- $gw := dict "host" "0.0.0.0" "port" (int $v.gateway.port) "models" (dict (include "specstack.gatewayModelName" .) $route) "api_keys_env" "SPECSTACK_GATEWAY_API_KEYS" "drain_timeout_s" (max 0 (sub (int $v.gateway.terminationGracePeriodSeconds) 15)) -}}
{{- if $v.gateway.routeToPods -}}
  {{- $_ := set $gw "discovery_interval_s" $v.gateway.discoveryIntervalSeconds -}}
{{- end -}}
{{- if $v.gateway.metricsToken.existingSecret -}}
  {{- $_ := set $gw "metrics_token_env" "SPECSTACK_METRICS_TOKEN" -}}
{{- end -}}
{{- if $v.gateway.sharedLimitsRedisUrl -}}
  {{- $_ := set $gw "shared_limits" (dict "redis_url" $v.gateway.sharedLimitsRedisUrl) -}}
{{- end -}}
{{- if and (include "specstack.hasKeysSecret" .) $v.gateway.apiKeys.fileKey -}}
  {{- $_ := set $gw "api_keys_file" "/etc/specstack/keys/keys.yaml" -}}
{{- end -}}
{{- $gw = mustMergeOverwrite $gw (deepCopy $v.gateway.config) -}}
{{- toYaml (dict "gateway" $gw) -}}
{{- end -}}

{{/* "true" when the gateway has a keys Secret (an existing one, or one this chart creates). */}}
{{- define "specstack.hasKeysSecret" -}}
{{- if or .Values.gateway.apiKeys.existingSecret .Values.gateway.apiKeys.keys -}}true{{- end -}}
{{- end -}}

{{/* Volume holding the models. */}}
{{- define "specstack.modelsVolume" -}}
- name: models
{{- $s := .Values.modelStorage }}
{{- if eq $s.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ include "specstack.modelsClaimName" . }}
{{- else if eq $s.type "hostPath" }}
  hostPath:
    path: {{ $s.hostPath.path }}
    type: Directory
{{- else }}
  emptyDir:
    sizeLimit: {{ $s.emptyDir.sizeLimit }}
{{- end }}
{{- end -}}

{{- define "specstack.probe" -}}
httpGet:
  path: {{ .probe.path }}
  port: http
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}
