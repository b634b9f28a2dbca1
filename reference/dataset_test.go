package reference_test

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/reference"
)

// loadDefault loads the embedded dataset and indexes it by path.
func loadDefault(t *testing.T) map[string]string {
	t.Helper()
	entries, err := reference.Load(reference.Default())
	if err != nil {
		t.Fatalf("Load(Default()): %v", err)
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[e.Path] = e.Text
	}
	return m
}

// category returns the terms of one category: name -> text.
func category(all map[string]string, cat string) map[string]string {
	m := map[string]string{}
	for p, text := range all {
		if c, name, ok := strings.Cut(p, "/"); ok && c == cat {
			m[name] = text
		}
	}
	return m
}

// TestDatasetText checks rules every shipped text follows: plain ASCII,
// lines of at most 78 columns, no trailing blanks, no tab, no '%'.
func TestDatasetText(t *testing.T) {
	all := loadDefault(t)
	if len(all) < 56+13+13+20 {
		t.Fatalf("only %d terms in the dataset", len(all))
	}
	for p, text := range all {
		if strings.TrimSpace(text) == "" {
			t.Errorf("%s: empty text", p)
		}
		if !strings.HasSuffix(text, "\n") {
			t.Errorf("%s: no final newline", p)
		}
		for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if len(line) > 78 {
				t.Errorf("%s:%d: line of %d columns", p, i+1, len(line))
			}
			if strings.TrimRight(line, " ") != line {
				t.Errorf("%s:%d: trailing blanks", p, i+1)
			}
			for _, r := range line {
				if r < ' ' || r > '~' {
					t.Errorf("%s:%d: character %q is not printable ASCII", p, i+1, r)
					break
				}
			}
		}
		if strings.Contains(text, "%") {
			t.Errorf("%s: contains a percent sign", p)
		}
	}
}

func TestDatasetCategories(t *testing.T) {
	all := loadDefault(t)
	cats := map[string]bool{}
	for p := range all {
		c, _, _ := strings.Cut(p, "/")
		cats[c] = true
	}
	for _, c := range []string{"addressing", "instructions", "mappers", "registers"} {
		if !cats[c] {
			t.Errorf("category %s missing", c)
		}
	}
}

// TestDatasetRegisters checks that every PPU, APU and I/O register address
// is documented, each named file at its address, with the usual sections.
func TestDatasetRegisters(t *testing.T) {
	regs := category(loadDefault(t), "registers")
	want := map[string]int{
		"PPUCTRL": 0x2000, "PPUMASK": 0x2001, "PPUSTATUS": 0x2002,
		"OAMADDR": 0x2003, "OAMDATA": 0x2004, "PPUSCROLL": 0x2005,
		"PPUADDR": 0x2006, "PPUDATA": 0x2007,
		"SQ1_VOL": 0x4000, "SQ1_SWEEP": 0x4001, "SQ1_LO": 0x4002, "SQ1_HI": 0x4003,
		"SQ2_VOL": 0x4004, "SQ2_SWEEP": 0x4005, "SQ2_LO": 0x4006, "SQ2_HI": 0x4007,
		"TRI_LINEAR": 0x4008, "TRI_LO": 0x400A, "TRI_HI": 0x400B,
		"NOISE_VOL": 0x400C, "NOISE_LO": 0x400E, "NOISE_HI": 0x400F,
		"DMC_FREQ": 0x4010, "DMC_RAW": 0x4011, "DMC_START": 0x4012, "DMC_LEN": 0x4013,
		"OAMDMA": 0x4014, "SND_CHN": 0x4015, "JOY1": 0x4016,
		"JOY2": 0x4017, "FRAMECOUNTER": 0x4017,
	}
	addrLine := regexp.MustCompile(`(?m)^Address: \$([0-9A-F]{4})$`)
	for name, addr := range want {
		text, ok := regs[name]
		if !ok {
			t.Errorf("registers/%s missing", name)
			continue
		}
		m := addrLine.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("registers/%s: no Address line", name)
			continue
		}
		if got, _ := strconv.ParseUint(m[1], 16, 16); int(got) != addr {
			t.Errorf("registers/%s: address $%s, want $%04X", name, m[1], addr)
		}
		for _, section := range []string{"\nAccess:  ", "\nBits", "\nUsage:\n  "} {
			if !strings.Contains(text, section) {
				t.Errorf("registers/%s: no %q section", name, strings.TrimSpace(section))
			}
		}
	}
	// Every address, the unused $4009 and $400D included, appears in some
	// register's text.
	var addrs []int
	for a := 0x2000; a <= 0x2007; a++ {
		addrs = append(addrs, a)
	}
	for a := 0x4000; a <= 0x4017; a++ {
		addrs = append(addrs, a)
	}
	for _, a := range addrs {
		needle := fmt.Sprintf("$%04X", a)
		found := false
		for _, text := range regs {
			if strings.Contains(text, needle) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("address %s not documented under registers", needle)
		}
	}
}

// modes describes the 13 addressing modes: the file name, the name used in
// instruction tables, the size of an instruction and the shape of its
// operand in nessemble syntax.
var modes = []struct {
	file, table string
	bytes       int
	operand     *regexp.Regexp
}{
	{"IMPLIED", "Implied", 1, regexp.MustCompile(`^$`)},
	{"ACCUMULATOR", "Accumulator", 1, regexp.MustCompile(`^A$`)},
	{"IMMEDIATE", "Immediate", 2, regexp.MustCompile(`^#\$[0-9A-F]{2}$`)},
	{"ZEROPAGE", "Zero Page", 2, regexp.MustCompile(`^<\$[0-9A-F]{2}$`)},
	{"ZEROPAGE_X", "Zero Page,X", 2, regexp.MustCompile(`^<\$[0-9A-F]{2},X$`)},
	{"ZEROPAGE_Y", "Zero Page,Y", 2, regexp.MustCompile(`^<\$[0-9A-F]{2},Y$`)},
	{"ABSOLUTE", "Absolute", 3, regexp.MustCompile(`^\$[0-9A-F]{4}$`)},
	{"ABSOLUTE_X", "Absolute,X", 3, regexp.MustCompile(`^\$[0-9A-F]{4},X$`)},
	{"ABSOLUTE_Y", "Absolute,Y", 3, regexp.MustCompile(`^\$[0-9A-F]{4},Y$`)},
	{"INDIRECT", "Indirect", 3, regexp.MustCompile(`^\[\$[0-9A-F]{4}\]$`)},
	{"INDIRECT_X", "(Indirect,X)", 2, regexp.MustCompile(`^\[\$[0-9A-F]{2},X\]$`)},
	{"INDIRECT_Y", "(Indirect),Y", 2, regexp.MustCompile(`^\[\$[0-9A-F]{2}\],Y$`)},
	{"RELATIVE", "Relative", 2, regexp.MustCompile(`^label$`)},
}

var mnemonics = strings.Fields(`ADC AND ASL BCC BCS BEQ BIT BMI BNE BPL BRK BVC
	BVS CLC CLD CLI CLV CMP CPX CPY DEC DEX DEY EOR INC INX INY JMP JSR LDA LDX
	LDY LSR NOP ORA PHA PHP PLA PLP ROL ROR RTI RTS SBC SEC SED SEI STA STX STY
	TAX TAY TSX TXA TXS TYA`)

// row is one line of an instruction's table of modes.
type row struct {
	mnemonic, mode, syntax string
	opcode, bytes, cycles  int
	extra                  string
}

var rowLine = regexp.MustCompile(`^  (\S.*?) {2,}(\S.*?) {2,}\$([0-9A-F]{2}) +([0-9]) +([0-9])(\*{0,2})$`)

func parseRows(t *testing.T, mnemonic, text string) []row {
	t.Helper()
	var rows []row
	for _, line := range strings.Split(text, "\n") {
		m := rowLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		op, _ := strconv.ParseUint(m[3], 16, 8)
		bytes, _ := strconv.Atoi(m[4])
		cycles, _ := strconv.Atoi(m[5])
		rows = append(rows, row{mnemonic, m[1], m[2], int(op), bytes, cycles, m[6]})
	}
	return rows
}

func TestDatasetAddressing(t *testing.T) {
	addressing := category(loadDefault(t), "addressing")
	if len(addressing) != len(modes) {
		t.Errorf("%d addressing terms, want %d", len(addressing), len(modes))
	}
	for _, m := range modes {
		text, ok := addressing[m.file]
		if !ok {
			t.Errorf("addressing/%s missing", m.file)
			continue
		}
		if !strings.Contains(text, fmt.Sprintf("\nBytes:     %d\n", m.bytes)) {
			t.Errorf("addressing/%s: byte count is not %d", m.file, m.bytes)
		}
		for _, section := range []string{"\nSyntax:", "\nEffective address:\n  ", "\nPage crossing:\n  ", "\nExample:\n  "} {
			if !strings.Contains(text, section) {
				t.Errorf("addressing/%s: no %q section", m.file, strings.TrimSpace(section))
			}
		}
	}
}

// TestDatasetInstructions parses the mode table of every instruction and
// checks it against the rules of the 6502: 56 instructions, 151 distinct
// official opcodes, sizes that follow from the mode, and operands written
// the way nessemble reads them.
func TestDatasetInstructions(t *testing.T) {
	all := loadDefault(t)
	instructions := category(all, "instructions")
	if len(instructions) != len(mnemonics) {
		t.Errorf("%d instruction terms, want %d", len(instructions), len(mnemonics))
	}
	byTable := map[string]int{}
	for i, m := range modes {
		byTable[m.table] = i
	}
	opcodes := map[int]string{}
	users := map[string][]string{} // mode file -> mnemonics, from the tables
	var rows []row
	for _, mn := range mnemonics {
		text, ok := instructions[mn]
		if !ok {
			t.Errorf("instructions/%s missing", mn)
			continue
		}
		if !strings.HasPrefix(text, mn+" - ") {
			t.Errorf("instructions/%s: title does not start with the mnemonic", mn)
		}
		for _, section := range []string{"\nOperation: ", "\nFlags:\n  ", "\nModes:\n"} {
			if !strings.Contains(text, section) {
				t.Errorf("instructions/%s: no %q section", mn, strings.TrimSpace(section))
			}
		}
		rs := parseRows(t, mn, text)
		if len(rs) == 0 {
			t.Errorf("instructions/%s: no mode rows", mn)
		}
		seenModes := map[string]bool{}
		for _, r := range rs {
			i, ok := byTable[r.mode]
			if !ok {
				t.Errorf("instructions/%s: unknown mode %q", mn, r.mode)
				continue
			}
			m := modes[i]
			if seenModes[r.mode] {
				t.Errorf("instructions/%s: mode %s listed twice", mn, r.mode)
			}
			seenModes[r.mode] = true
			if r.bytes != m.bytes {
				t.Errorf("instructions/%s %s: %d bytes, want %d", mn, r.mode, r.bytes, m.bytes)
			}
			operand, ok := strings.CutPrefix(r.syntax, mn)
			if !ok || !m.operand.MatchString(strings.TrimPrefix(operand, " ")) {
				t.Errorf("instructions/%s %s: syntax %q does not fit the mode", mn, r.mode, r.syntax)
			}
			if prev, dup := opcodes[r.opcode]; dup {
				t.Errorf("opcode $%02X used by %s and %s", r.opcode, prev, mn)
			}
			opcodes[r.opcode] = mn
			if r.cycles < 2 || r.cycles > 7 {
				t.Errorf("instructions/%s %s: %d cycles", mn, r.mode, r.cycles)
			}
			if (r.extra == "**") != (m.file == "RELATIVE") {
				t.Errorf("instructions/%s %s: branch marker %q", mn, r.mode, r.extra)
			}
			users[m.file] = append(users[m.file], mn)
		}
		rows = append(rows, rs...)
	}
	if len(rows) != 151 || len(opcodes) != 151 {
		t.Errorf("%d rows, %d distinct opcodes; the 6502 has 151 official opcodes", len(rows), len(opcodes))
	}

	// Stores never pay for page crossings; the marker is only for reads.
	for _, r := range rows {
		if (r.mnemonic == "STA" || r.mnemonic == "STX" || r.mnemonic == "STY") && r.extra != "" {
			t.Errorf("%s %s: stores have fixed cycle counts", r.mnemonic, r.mode)
		}
	}

	// A few opcodes every NES programmer knows, as a sanity check on the
	// tables above.
	known := map[int]string{0xA9: "LDA", 0x8D: "STA", 0x4C: "JMP", 0x20: "JSR",
		0x60: "RTS", 0x40: "RTI", 0xEA: "NOP", 0x00: "BRK", 0xD0: "BNE", 0x78: "SEI"}
	for op, mn := range known {
		if opcodes[op] != mn {
			t.Errorf("opcode $%02X is %q, want %s", op, opcodes[op], mn)
		}
	}

	// Each addressing term lists exactly the instructions whose tables use
	// its mode.
	addressing := category(all, "addressing")
	for _, m := range modes {
		text := addressing[m.file]
		_, list, ok := strings.Cut(text, "\nInstructions:\n")
		if !ok {
			t.Errorf("addressing/%s: no Instructions section", m.file)
			continue
		}
		got := strings.Fields(list)
		want := users[m.file]
		sort.Strings(want)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("addressing/%s lists %v, tables say %v", m.file, got, want)
		}
	}
}

func TestDatasetMappers(t *testing.T) {
	mappers := category(loadDefault(t), "mappers")
	for _, n := range []int{0, 1, 2, 3, 4, 7, 9, 10, 11, 66, 69, 71, 206} {
		name := strconv.Itoa(n)
		text, ok := mappers[name]
		if !ok {
			t.Errorf("mappers/%s missing", name)
			continue
		}
		if !strings.HasPrefix(text, "Mapper "+name+" - ") {
			t.Errorf("mappers/%s: title does not name mapper %s", name, name)
		}
		for _, field := range []string{"\nBoards:     ", "\nPRG ROM:    ", "\nCHR:        ", "\nMirroring:  ", "\nRegisters"} {
			if !strings.Contains(text, field) {
				t.Errorf("mappers/%s: no %q field", name, strings.TrimSpace(field))
			}
		}
		if !strings.Contains(text, ".inesmap "+name+"\n") {
			t.Errorf("mappers/%s: no nessemble .inesmap line", name)
		}
	}
}
