; {{.Title}} {{.Version}}
.db "{{.Version}}"
