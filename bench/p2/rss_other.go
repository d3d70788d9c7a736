//go:build !unix

package main

import "os"

// maxRSSKiB is unknown here: only Unix wait4 reports a child's peak RSS.
func maxRSSKiB(*os.ProcessState) int64 { return 0 }
