//go:build !linux

package testenv

import "testing"

// EnvInMountNamespace: see the Linux SmallFileSystem.
const EnvInMountNamespace = "ROTOR_TEST_IN_MOUNT_NAMESPACE"

// SmallFileSystem needs Linux (tmpfs, user and mount namespaces): elsewhere it fails the test.
func SmallFileSystem(t *testing.T, dir string, size int, env ...string) bool {
	t.Helper()
	t.Fatalf("testenv: a small file system that fills up (tmpfs in a mount namespace) is only made on Linux")
	return false
}
