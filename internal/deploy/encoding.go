package deploy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// The byte-order marks a task definition file may begin with.
var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
	bomUTF32LE = []byte{0xFF, 0xFE, 0x00, 0x00}
	bomUTF32BE = []byte{0x00, 0x00, 0xFE, 0xFF}
)

// decodeText returns a task definition file's text as UTF-8, which JSON
// is. Editors and shells save JSON in other encodings too: Windows
// PowerShell's Out-File and > write UTF-16 LE with a byte-order mark, its
// Set-Content and PowerShell 7's UTF-8 variants may add a UTF-8 BOM, and a
// few tools write UTF-16 BE. Those are read (a UTF-16 file without a BOM
// is recognised, as RFC 4627 describes, by the zero bytes of its first
// characters); UTF-32, and bytes that are not valid in the encoding, are
// refused with a message naming the encoding and how to save the file. On
// such an error the text returned is what could be read, so that the
// problem's place in it can be shown.
func decodeText(data []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, bomUTF32LE), bytes.HasPrefix(data, bomUTF32BE):
		return nil, errors.New("the file is UTF-32; save it as UTF-8 (in PowerShell: Out-File -Encoding utf8)")
	case bytes.HasPrefix(data, bomUTF8):
		return checkUTF8(data[len(bomUTF8):], "UTF-8 with a byte-order mark")
	case bytes.HasPrefix(data, bomUTF16LE):
		return decodeUTF16(data[2:], binary.LittleEndian, "UTF-16 LE (PowerShell's default)")
	case bytes.HasPrefix(data, bomUTF16BE):
		return decodeUTF16(data[2:], binary.BigEndian, "UTF-16 BE")
	case len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] != 0 && data[3] == 0:
		return decodeUTF16(data, binary.LittleEndian, "UTF-16 LE without a byte-order mark")
	case len(data) >= 4 && data[0] == 0 && data[1] != 0 && data[2] == 0 && data[3] != 0:
		return decodeUTF16(data, binary.BigEndian, "UTF-16 BE without a byte-order mark")
	}
	return checkUTF8(data, "")
}

// checkUTF8 returns data, and an error at the first byte that is not UTF-8.
func checkUTF8(data []byte, encoding string) ([]byte, error) {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			what := "the file is not UTF-8"
			if encoding != "" {
				what = "the file begins as " + encoding + " but is not valid UTF-8"
			}
			return data, &problemAt{err: fmt.Errorf("%s: byte 0x%02X cannot be read (perhaps it is Windows-1252 or Latin-1); save it as UTF-8", what, data[i]), offset: int64(i)}
		}
		i += size
	}
	return data, nil
}

// decodeUTF16 turns UTF-16 text into UTF-8.
func decodeUTF16(data []byte, order binary.ByteOrder, encoding string) ([]byte, error) {
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("the file is %s but has an odd number of bytes, so it is cut short or not UTF-16; save it as UTF-8", encoding)
	}
	units := make([]uint16, len(data)/2)
	for i := range units {
		units[i] = order.Uint16(data[2*i:])
	}
	var out bytes.Buffer
	out.Grow(len(units))
	for i := 0; i < len(units); i++ {
		u := units[i]
		switch {
		case utf16.IsSurrogate(rune(u)):
			if i+1 < len(units) {
				if r := utf16.DecodeRune(rune(u), rune(units[i+1])); r != utf8.RuneError {
					out.WriteRune(r)
					i++
					continue
				}
			}
			return out.Bytes(), &problemAt{err: fmt.Errorf("the file is %s but character %d is half of a pair (an unpaired surrogate); save it as UTF-8", encoding, i+1), offset: int64(out.Len())}
		default:
			out.WriteRune(rune(u))
		}
	}
	return out.Bytes(), nil
}
