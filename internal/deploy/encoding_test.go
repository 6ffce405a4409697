package deploy

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// utf16Bytes encodes s as UTF-16 in order, after bom.
func utf16Bytes(s string, order binary.AppendByteOrder, bom []byte) []byte {
	out := append([]byte(nil), bom...)
	for _, u := range utf16.Encode([]rune(s)) {
		out = order.AppendUint16(out, u)
	}
	return out
}

// TestTaskDefinitionFileEncodings: a task definition file saved as UTF-16
// (PowerShell's default), with a UTF-8 byte-order mark, or without a mark
// is read as the UTF-8 file it stands for; an encoding that is not read,
// or bytes the encoding cannot hold, are refused with a message that names
// the encoding and says how to save the file, never "invalid character 'ÿ'".
func TestTaskDefinitionFileEncodings(t *testing.T) {
	t.Parallel()
	const td = "{\n  \"family\": \"web-api\",\n  \"containerDefinitions\": [{\"name\": \"wéb—☃\", \"image\": \"nginx\"}]\n}\n"
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name      string
		data      []byte
		wantErr   string
		line, col int
	}{
		{name: "utf8", data: []byte(td)},
		{name: "utf8_with_bom", data: append([]byte{0xEF, 0xBB, 0xBF}, td...)},
		{name: "utf16le_with_bom_as_powershell_writes_it", data: utf16Bytes(strings.ReplaceAll(td, "\n", "\r\n"), le, []byte{0xFF, 0xFE})},
		{name: "utf16be_with_bom", data: utf16Bytes(td, be, []byte{0xFE, 0xFF})},
		{name: "utf16le_without_bom", data: utf16Bytes(td, le, nil)},
		{name: "utf16be_without_bom", data: utf16Bytes(td, be, nil)},
		{name: "utf16_beyond_the_basic_plane", data: utf16Bytes(strings.Replace(td, "☃", "🚀", 1), le, []byte{0xFF, 0xFE})},
		{name: "utf32le", data: []byte{0xFF, 0xFE, 0, 0, '{', 0, 0, 0}, wantErr: "the file is UTF-32; save it as UTF-8"},
		{name: "utf32be", data: []byte{0, 0, 0xFE, 0xFF, 0, 0, 0, '{'}, wantErr: "the file is UTF-32; save it as UTF-8"},
		{name: "utf16_cut_short", data: utf16Bytes(td, le, []byte{0xFF, 0xFE})[:9], wantErr: "the file is UTF-16 LE (PowerShell's default) but has an odd number of bytes"},
		{name: "utf16_unpaired_surrogate", data: append(utf16Bytes("{\n\"family\": \"", le, []byte{0xFF, 0xFE}), 0x00, 0xD8, '"', 0),
			wantErr: "the file is UTF-16 LE (PowerShell's default) but character 14 is half of a pair", line: 2, col: 12},
		{name: "utf16_unpaired_surrogate_at_the_end", data: append(utf16Bytes("{\n\"family\": \"", le, []byte{0xFF, 0xFE}), 0x00, 0xD8),
			wantErr: "the file is UTF-16 LE (PowerShell's default) but character 14 is half of a pair", line: 2, col: 12},
		// Two characters, four bytes: the shortest text told by its zeros.
		{name: "utf16le_of_four_bytes", data: utf16Bytes("{}", le, nil), wantErr: "no family"},
		{name: "utf16be_of_four_bytes", data: utf16Bytes("{}", be, nil), wantErr: "no family"},
		{name: "latin1", data: []byte("{\n  \"family\": \"caf\xe9\"}"), wantErr: "the file is not UTF-8: byte 0xE9 cannot be read (perhaps it is Windows-1252 or Latin-1); save it as UTF-8", line: 2, col: 17},
		{name: "utf8_bom_then_latin1", data: append([]byte{0xEF, 0xBB, 0xBF}, "{\"family\": \"\xff\"}"...), wantErr: "the file begins as UTF-8 with a byte-order mark but is not valid UTF-8", line: 1, col: 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "task-definition.json")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readTaskDefinitionFile(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("readTaskDefinitionFile: %v", err)
				}
				want := "wéb—☃"
				if strings.Contains(tt.name, "beyond") {
					want = "wéb—🚀"
				}
				if name := aws.ToString(got.input.ContainerDefinitions[0].Name); name != want {
					t.Errorf("container name = %q, want %q: the file's text, decoded", name, want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "invalid character") {
				t.Fatalf("readTaskDefinitionFile = %v, want an error saying %q", err, tt.wantErr)
			}
			var fe *FileError
			if !errors.As(err, &fe) || fe.File != path || fe.Line != tt.line || fe.Column != tt.col {
				t.Errorf("error %v is not a FileError at %s:%d:%d", err, path, tt.line, tt.col)
			}
		})
	}
}
