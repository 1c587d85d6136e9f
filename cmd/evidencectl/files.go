package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// fileJob is one file to fingerprint and file.
type fileJob struct {
	Path  string // as opened
	Title string // default title: the name given, or the path inside the directory given
}

// skipped is something named or found that is not filed, and why.
type skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// expand lists the files to file: files named (a symlink is followed to
// its file), and the files under directories named, titled by their path
// inside the directory (sub/a.txt), symlinks followed to files and
// directories. What is not filed is listed with the reason: not a regular
// file, a dangling symlink, a symlink loop, unreadable.
func expand(args []string) ([]fileJob, []skipped, error) {
	var jobs []fileJob
	var skips []skipped
	for _, a := range args {
		fi, err := os.Stat(a) // follows symlinks
		if err != nil {
			if lfi, lerr := os.Lstat(a); lerr == nil && lfi.Mode()&os.ModeSymlink != 0 {
				skips = append(skips, skipped{a, "symlink to nothing (" + err.Error() + ")"})
				continue
			}
			return nil, nil, err
		}
		switch {
		case fi.Mode().IsRegular():
			jobs = append(jobs, fileJob{a, filepath.Base(a)})
		case fi.IsDir():
			w := walker{root: a}
			w.walk(a, "", []os.FileInfo{fi})
			if len(w.jobs) == 0 && len(w.skips) == 0 {
				skips = append(skips, skipped{a, "empty directory: no files in it"})
			}
			jobs, skips = append(jobs, w.jobs...), append(skips, w.skips...)
		default:
			skips = append(skips, skipped{a, "not a regular file (" + fi.Mode().Type().String() + ")"})
		}
	}
	return jobs, skips, nil
}

type walker struct {
	root  string
	jobs  []fileJob
	skips []skipped
}

// walk lists dir, whose path inside the root is rel; parents are the
// directories it is in, to refuse a symlink back to one of them.
func (w *walker) walk(dir, rel string, parents []os.FileInfo) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.skips = append(w.skips, skipped{dir, "unreadable directory: " + err.Error()})
		return
	}
	for _, e := range entries {
		p, r := filepath.Join(dir, e.Name()), filepath.ToSlash(filepath.Join(rel, e.Name()))
		fi, err := os.Stat(p)
		if err != nil {
			why := "unreadable: " + err.Error()
			if e.Type()&os.ModeSymlink != 0 {
				why = "symlink to nothing (" + err.Error() + ")"
			}
			w.skips = append(w.skips, skipped{p, why})
			continue
		}
		switch {
		case fi.Mode().IsRegular():
			w.jobs = append(w.jobs, fileJob{p, r})
		case fi.IsDir():
			if slices.ContainsFunc(parents, func(q os.FileInfo) bool { return os.SameFile(q, fi) }) {
				w.skips = append(w.skips, skipped{p, "symlink loop: it leads back to a directory it is in"})
				continue
			}
			w.walk(p, r, append(slices.Clip(parents), fi))
		default:
			w.skips = append(w.skips, skipped{p, fmt.Sprintf("not a regular file (%s)", fi.Mode().Type())})
		}
	}
}
