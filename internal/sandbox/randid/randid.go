// Package randid makes the random identifiers and secrets the stand-ins hand
// out: request IDs, access keys, session tokens, passwords, ECS IDs.
package randid

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// upperAlphabet is the alphabet of AWS access key IDs and role IDs.
const upperAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// base62Alphabet is the alphabet of ECS service deployment IDs.
const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// bytes returns n random bytes. crypto/rand.Read does not fail on the
// platforms Go supports; a failure is a broken machine, not an error to
// handle.
func bytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("randid: " + err.Error())
	}
	return b
}

// fromAlphabet returns n random characters of alphabet.
func fromAlphabet(alphabet string, n int) string {
	b := bytes(n)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// UUID returns a random (version 4) UUID, the form of AWS request IDs and
// of JWT IDs.
func UUID() string {
	b := bytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Upper returns n random characters of the alphabet of AWS access key IDs
// (A-Z, 2-7).
func Upper(n int) string { return fromAlphabet(upperAlphabet, n) }

// Base62 returns n random letters and digits.
func Base62(n int) string { return fromAlphabet(base62Alphabet, n) }

// Token returns n random bytes in unpadded standard base64, the form of
// secret keys, session tokens and registry passwords.
func Token(n int) string {
	return strings.TrimRight(base64.StdEncoding.EncodeToString(bytes(n)), "=")
}

// Hex returns n random hexadecimal digits.
func Hex(n int) string { return hex.EncodeToString(bytes((n + 1) / 2))[:n] }

// Digits returns n random decimal digits, the first not zero.
func Digits(n int) string {
	b := bytes(n)
	for i := range b {
		lo := byte(0)
		if i == 0 {
			lo = 1
		}
		b[i] = '0' + lo + b[i]%(10-lo)
	}
	return string(b)
}
