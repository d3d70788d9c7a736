// Package e2e runs rotor end to end with real processes: the rotor binary, a service that
// accepts API keys from rotor's file store, clients that use them, and the files, signals and
// HTTP calls between them. Nothing is mocked.
package e2e
