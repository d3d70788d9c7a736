// Package inventory turns rotor's inventory — a folder of YAML files kept in git — into one
// typed, validated model.
//
// Loading is strict because the inventory is the source of truth for a production change:
// unknown keys, wrong types, duplicate ids (also duplicate YAML keys), dangling references,
// bad durations, bad cron expressions, unknown time zones, windows that can never open and
// policies that can never be met are all errors. Every error is collected — never only the
// first — and reported as `file:line:col: message`, with the nearest valid name when there is
// one. Nothing in this package performs I/O beyond reading the inventory files.
//
// The model is decoded by walking yaml.Node trees with a small reflective decoder driven by
// struct tags (see decode.go). The same tags generate the JSON Schema shipped for editors
// (see schema.go), so the schema cannot drift from what the loader accepts. Provider-specific
// keys (a store's mount, an authority's roles, a check's URL) are not known here: a Catalog,
// supplied by the composition root, maps each provider type to its config struct, so
// `rotor validate` and a real run decode configs with the very same code.
package inventory
