{{/*
Helpers shared by the templates of this chart. Kept per chart (no library chart) so each
component chart stays self-contained and copyable.
*/}}

{{/* The image tag as a string, exactly as written in the values file ("1.10" stays "1.10"). */}}
{{- define "my-backend.tag" -}}
{{- $raw := required (printf "image.tag is required: set %s.image.tag in values-<colour>.yaml" .Chart.Name) .Values.image.tag -}}
{{- /* An unquoted tag is read as a number or boolean and loses its form (1.10 -> 1.1): refuse it. */ -}}
{{- if not (kindIs "string" $raw) -}}
{{- fail (printf "image.tag of %s must be a quoted string: unquoted, YAML read it as %v (a %s); quote the tag exactly as published, e.g. tag: \"1.10\"" .Chart.Name $raw (kindOf $raw)) -}}
{{- end -}}
{{- $tag := $raw -}}
{{- if not (regexMatch "^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$" $tag) -}}
{{- fail (printf "image.tag %q is not a valid image tag" $tag) -}}
{{- end -}}
{{- $tag -}}
{{- end -}}

{{/* repository:tag, built with printf so a tag never goes through number formatting. */}}
{{- define "my-backend.image" -}}
{{- $repository := required (printf "image.repository is required: set %s.image.repository in apps/<stack>/values.yaml" .Chart.Name) .Values.image.repository -}}
{{- printf "%s:%s" $repository (include "my-backend.tag" .) -}}
{{- end -}}

{{/* The colour of this copy; anything but blue or green is a mistake in the values files. */}}
{{- define "my-backend.colour" -}}
{{- $colour := toString .Values.global.colour -}}
{{- if not (has $colour (list "blue" "green")) -}}
{{- fail (printf "global.colour must be \"blue\" or \"green\" (got %q): set it in values-<colour>.yaml" $colour) -}}
{{- end -}}
{{- $colour -}}
{{- end -}}

{{/* Labels that never change for the life of the Deployment (its selector is immutable). */}}
{{- define "my-backend.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/part-of: {{ .Values.global.stack | quote }}
{{- end -}}

{{- define "my-backend.labels" -}}
{{ include "my-backend.selectorLabels" . }}
{{- /* A label value is at most 63 characters and must start and end alphanumeric. */}}
app.kubernetes.io/version: {{ include "my-backend.tag" . | trunc 63 | trimAll "-_." | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
stackswap.io/colour: {{ include "my-backend.colour" . }}
{{- end -}}
