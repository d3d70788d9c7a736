package builtin

// checkImpls lists the checks that can run.
var checkImpls = map[string]CheckFactory{}
