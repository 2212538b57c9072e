{{/* Names and labels shared by every object of a release. */}}

{{- define "naftiko.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "naftiko.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "naftiko.labels" -}}
{{ include "naftiko.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret whose keys become environment variables (binds), or "" for none. */}}
{{- define "naftiko.bindsSecret" -}}
{{- if .Values.binds.existingSecret -}}
{{- .Values.binds.existingSecret -}}
{{- else if .Values.binds.values -}}
{{- printf "%s-binds" (include "naftiko.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Spec files: the user's, or the chart's default capability. */}}
{{- define "naftiko.specs" -}}
{{- if .Values.specs -}}
{{- toYaml .Values.specs -}}
{{- else -}}
capability.yaml: |
{{ .Files.Get "files/capability.yaml" | indent 2 }}
{{- end -}}
{{- end -}}
