package parser

import "bytes"

// PathTemplate groups request paths: the query string goes, and segments
// that identify one thing become placeholders — /users/123 and /users/456
// are both /users/:id.
func PathTemplate(path string) string { return string(AppendPathTemplate(nil, []byte(path))) }

// AppendPathTemplate appends the template of path to dst, in one pass,
// without allocating when dst has room.
func AppendPathTemplate(dst []byte, path []byte) []byte {
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if len(path) == 0 {
		return append(dst, '/')
	}
	last := 0 // end of what has been copied to dst
	for start := 0; start <= len(path); {
		end := bytes.IndexByte(path[start:], '/')
		if end < 0 {
			end = len(path)
		} else {
			end += start
		}
		if rep := segmentTemplate(path[start:end]); rep != "" {
			dst = append(dst, path[last:start]...)
			dst = append(dst, rep...)
			last = end
		}
		start = end + 1
	}
	return append(dst, path[last:]...)
}

// segmentTemplate returns the placeholder for a path segment that names one
// thing (":id", ":uuid", ":hash", ":token"), or "" to keep it.
func segmentTemplate(s []byte) string {
	switch {
	case len(s) == 0:
		return ""
	case isDigits(s):
		return ":id"
	case isUUID(s):
		return ":uuid"
	case len(s) >= 16 && isHex(s):
		return ":hash"
	case len(s) >= 20 && hasDigit(s) && !bytes.ContainsAny(s, ".-_"):
		return ":token"
	case isRandomToken(s):
		return ":token"
	}
	return ""
}

// isRandomToken reports whether a segment without digits is still clearly
// an identifier rather than a word or a slug: a base64 or base64url token
// (16 or more characters of A-Z a-z 0-9 - _ =, mixed case with at least a
// quarter of each, so camelCase names stay), or a run of 24 or more
// letters without a separator (no route or slug glues that many letters
// into one word).
func isRandomToken(s []byte) bool {
	if len(s) < 16 {
		return false
	}
	var upper, lower, other int
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z':
			upper++
		case c >= 'a' && c <= 'z':
			lower++
		case c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=':
			other++
		default:
			return false
		}
	}
	if 4*upper >= len(s) && 4*lower >= len(s) {
		return true
	}
	return len(s) >= 24 && upper+lower == len(s)
}

func isDigits(s []byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func isHex(s []byte) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hasDigit(s []byte) bool { return bytes.ContainsAny(s, "0123456789") }

func isUUID(s []byte) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return isHex(s[:8]) && isHex(s[9:13]) && isHex(s[14:18]) && isHex(s[19:23]) && isHex(s[24:])
}
