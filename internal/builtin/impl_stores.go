package builtin

// storeImpls lists the stores that can run.
var storeImpls = map[string]StoreFactory{}
