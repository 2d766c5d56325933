{{- define "stackswap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "stackswap.fullname" -}}
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

{{- define "stackswap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stackswap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "stackswap.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "stackswap.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stackswap
{{- end }}

{{- define "stackswap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stackswap.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Refuses value sets that cannot work, with a message naming the value. */}}
{{- define "stackswap.validate" -}}
{{- if not .Values.config.repo }}
{{- fail "config.repo is required: the https:// or ssh:// URL of the config repo" }}
{{- end }}
{{- if not .Values.existingSecret }}
{{- fail "existingSecret is required: the Secret with tokens.yaml and the credentials (see values.yaml)" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.database.enabled) }}
{{- fail "replicaCount > 1 needs database.enabled: replicas share the journal and the per-stack lock in PostgreSQL" }}
{{- end }}
{{- if and .Values.persistence.enabled .Values.database.enabled }}
{{- fail "persistence.enabled is for the file journal of one replica; with database.enabled the journal is in PostgreSQL" }}
{{- end }}
{{- end }}
