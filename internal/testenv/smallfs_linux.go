package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// EnvInMountNamespace is set in a test that SmallFileSystem runs again in a user and mount
// namespace of its own, where it may mount a tmpfs.
const EnvInMountNamespace = "ROTOR_TEST_IN_MOUNT_NAMESPACE"

// SmallFileSystem mounts a tmpfs of size bytes at dir (an existing, empty folder) for the
// rest of the test: a real file system that fills up, for tests of a full disk (ENOSPC).
//
// As root it mounts it here and unmounts it when the test ends. Otherwise it runs the test
// again, alone, in a child process under `unshare --user --map-root-user --mount`
// (util-linux), where an unprivileged user may mount a tmpfs of its own; env is added to the
// child's environment. The child's verdict and output are reported here and SmallFileSystem
// returns false: the caller returns at once, its work done by the child. Only a top-level
// test can be run again so. When neither is possible the test fails, saying why — it never
// skips: a disk-full test that silently does not run proves nothing.
func SmallFileSystem(t *testing.T, dir string, size int, env ...string) bool {
	t.Helper()
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
	if err == nil {
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("testenv: unmount the test's tmpfs at %s: %v", dir, err)
			}
		})
		return true
	}
	if os.Getenv(EnvInMountNamespace) != "" {
		t.Fatalf("testenv: mounting a tmpfs at %s failed inside the user and mount namespace made for it: %v", dir, err)
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("testenv: SmallFileSystem can run only a top-level test again in a namespace of its own, not %s", t.Name())
	}
	mountErr := err
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("testenv: this test needs a small file system that fills up: mounting a tmpfs needs root (%v), and unshare (util-linux), "+
			"which would let it mount one in a user namespace of its own, is not installed\nhint: apt-get install util-linux, or run the test as root", mountErr)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "--user", "--map-root-user", "--mount", "--",
		self, "-test.run", "^"+t.Name()+"$", "-test.count", "1", "-test.v")
	cmd.Env = append(append(os.Environ(), EnvInMountNamespace+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	started := strings.Contains(out.String(), "=== RUN   "+t.Name())
	switch {
	case err == nil && started:
		t.Logf("testenv: ran in a user and mount namespace of its own (unshare --user --map-root-user --mount):\n%s", out.String())
		return false
	case started:
		t.Fatalf("testenv: the test failed in its user and mount namespace:\n%s", out.String())
	}
	t.Fatalf("testenv: this test needs a small file system that fills up: mounting a tmpfs needs root (%v), and unshare --user --map-root-user --mount, "+
		"which would give it a namespace of its own to mount one in, failed: %v\n%s"+
		"hint: enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), or run the test as root",
		mountErr, err, out.String())
	return false
}
