{{/* Names, labels and the pieces every pod shares. */}}

{{- define "fastagentic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fastagentic.fullname" -}}
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

{{- define "fastagentic.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fastagentic.labels" -}}
helm.sh/chart: {{ include "fastagentic.chart" . }}
app.kubernetes.io/name: {{ include "fastagentic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "fastagentic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fastagentic.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "fastagentic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "fastagentic.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "fastagentic.secretName" -}}
{{- default (include "fastagentic.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "fastagentic.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The chart's Secret data: the store URLs as environment variables. */}}
{{- define "fastagentic.secretData" -}}
FASTAGENTIC_DURABLE_STORE: {{ required "set secret.durableStore (postgresql://... or redis://...) or secret.existingSecret" .Values.secret.durableStore | b64enc | quote }}
{{- with .Values.secret.checkpointStore }}
FASTAGENTIC_CHECKPOINT_STORE: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.archiveStore }}
FASTAGENTIC_ARCHIVE_STORE: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.rateLimitStore }}
FASTAGENTIC_RATE_LIMIT_STORE: {{ . | b64enc | quote }}
{{- end }}
{{- range $key, $value := .Values.secret.extra }}
{{ $key }}: {{ $value | toString | b64enc | quote }}
{{- end }}
{{- end }}

{{/* Environment of every container: the plain settings, then the Secret. */}}
{{- define "fastagentic.env" -}}
{{- with .Values.env -}}
env:
  {{- range $key, $value := . }}
  - name: {{ $key }}
    value: {{ $value | toString | quote }}
  {{- end }}
{{ end -}}
envFrom:
  - secretRef:
      name: {{ include "fastagentic.secretName" . }}
{{- end }}

{{/* Pod-level settings every component shares. */}}
{{- define "fastagentic.podSpec" -}}
serviceAccountName: {{ include "fastagentic.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir: {}
{{- end }}

{{/* Pod annotations: the user's, and a checksum of the chart's Secret so pods restart when a
store URL changes. */}}
{{- define "fastagentic.podAnnotations" -}}
{{- $annotations := deepCopy .Values.podAnnotations }}
{{- if not .Values.secret.existingSecret }}
{{- $_ := set $annotations "checksum/secret" (include "fastagentic.secretData" . | sha256sum) }}
{{- end }}
{{- with $annotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
