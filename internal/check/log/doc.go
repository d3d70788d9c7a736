// Package log is the `log` check: it reads local log files — nginx and Apache access logs, JSON
// lines, or any line format described by a regular expression — and counts the lines that
// match (statuses, path prefixes, hosts, the key id of the previous or current version) per
// time bin, grouped by fields, against thresholds: the most matching lines in any bin, the
// highest matching share of a bin, or the increase over the same length of time before the
// cutover.
//
// Its typical use is proof of non-use: "since the cutover, no request was made with the
// previous key id" before the previous value is revoked, or "no burst of 401s after the
// cutover". Such proof needs evidence, so missing evidence is unknown, never a pass: no file,
// an unreadable file, a log with no line in the window (a silent log proves nothing), lines
// that do not carry a field the match needs, or more than a tenth of malformed lines.
//
// In the combined format, a key id is the line's last field, key_id="…" or key_id=… (see
// combinedParser): nginx appends it with a log_format ending in key_id="$http_x_key_id".
//
// The file is read as it is rotated by logrotate: path, path.1, path.2.gz… (see files.go);
// older rotations are read only while they may still hold lines of the window. Lines are
// never copied into the result — they may hold secrets — only the values of the known fields
// that the counts are grouped by, a path without its query string, and for key_id only the id
// of the version it matched.
package log
