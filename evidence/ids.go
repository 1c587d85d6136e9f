package evidence

// The identifier formats, matched byte by byte. Every node checks them for
// every entry it applies, and regular-expression matching was about 5% of
// a leader's CPU under load (issue 14). ids_test.go holds each format as a
// regular expression too, and checks (table and fuzz) that both agree.

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isAlnum(c byte) bool { return isLower(c) || isDigit(c) }

// matchID reports whether s is 1 to maxLen bytes, its first byte is in
// first, its last (if it has two or more) in last, and the rest in mid.
func matchID(s string, maxLen int, first, mid, last func(byte) bool) bool {
	n := len(s)
	if n == 0 || n > maxLen || !first(s[0]) {
		return false
	}
	if n == 1 {
		return true
	}
	for i := 1; i < n-1; i++ {
		if !mid(s[i]) {
			return false
		}
	}
	return last(s[n-1])
}

// courtIDChar: [a-z0-9./-]
func courtIDChar(c byte) bool { return isAlnum(c) || c == '.' || c == '/' || c == '-' }

// platformIDChar: [a-z0-9.-]
func platformIDChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// requestIDStart: [A-Za-z0-9]; requestIDChar: [A-Za-z0-9._:-]
func requestIDStart(c byte) bool { return isAlnum(c) || c >= 'A' && c <= 'Z' }
func requestIDChar(c byte) bool {
	return requestIDStart(c) || c == '.' || c == '_' || c == ':' || c == '-'
}

// metadataKeyChar: [a-z0-9_.-]
func metadataKeyChar(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' }

// ValidCourtID reports whether id can name a court and its log: usable as
// a C2SP log origin and key name, ^[a-z0-9][a-z0-9./-]{0,127}$.
func ValidCourtID(id string) bool { return matchID(id, 128, isAlnum, courtIDChar, courtIDChar) }

// ValidPlatformID reports whether id can name a platform:
// ^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$.
func ValidPlatformID(id string) bool { return matchID(id, 64, isAlnum, platformIDChar, isAlnum) }

// validRequestID: ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$, also a batch ID's.
func validRequestID(id string) bool {
	return matchID(id, 128, requestIDStart, requestIDChar, requestIDChar)
}

// validMetadataKey: ^[a-z][a-z0-9_.-]{0,63}$.
func validMetadataKey(k string) bool {
	return matchID(k, 64, isLower, metadataKeyChar, metadataKeyChar)
}
