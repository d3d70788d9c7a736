package builtin

// authorityImpls lists the authorities that can run.
var authorityImpls = map[string]AuthorityFactory{}
