package builtin

// reloadImpls lists the reloads that can run.
var reloadImpls = map[string]ReloadFactory{}
