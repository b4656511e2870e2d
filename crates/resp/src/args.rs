//! `Args`: a command's arguments as borrowed slices of the query buffer (no copy, no allocation
//! per argument). Arguments are indexed from 0 (the command name).

/// A parsed command's arguments, borrowing from the buffer they were parsed from.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    spans: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// Wraps `spans` (start, end) offsets into `base`. Every span must lie inside `base`.
    pub fn new(base: &'a [u8], spans: &'a [(usize, usize)]) -> Self {
        Args { base, spans }
    }

    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there is no argument at all (an empty command).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i`; an empty slice past the end (callers check arity first).
    pub fn get(&self, i: usize) -> &'a [u8] {
        match self.spans.get(i) {
            Some(&(s, e)) => self.base.get(s..e).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Iterates over all arguments.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let base = self.base;
        self.spans
            .iter()
            .map(move |&(s, e)| base.get(s..e).unwrap_or(&[]))
    }

    /// Arguments `from..` as a new `Args`.
    pub fn tail(&self, from: usize) -> Args<'a> {
        Args {
            base: self.base,
            spans: self.spans.get(from..).unwrap_or(&[]),
        }
    }

    /// Arguments `from..to` (clamped to the arguments there are) as a new `Args`.
    pub fn slice(&self, from: usize, to: usize) -> Args<'a> {
        let to = to.min(self.spans.len());
        Args {
            base: self.base,
            spans: self.spans.get(from.min(to)..to).unwrap_or(&[]),
        }
    }

    /// An owned copy, sized exactly (queued MULTI commands keep no spare room).
    pub fn to_owned_args(&self) -> OwnedArgs {
        let mut o = OwnedArgs {
            buf: Vec::with_capacity(self.iter().map(|a| a.len()).sum()),
            spans: Vec::with_capacity(self.len()),
        };
        for a in self.iter() {
            o.push(a);
        }
        o
    }

    /// Copies every argument into owned vectors (for queuing in MULTI, propagation, ...).
    pub fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.iter().map(|a| a.to_vec()).collect()
    }
}

/// Owned arguments that can lend themselves out as `Args`.
#[derive(Clone, Debug, Default)]
pub struct OwnedArgs {
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl OwnedArgs {
    /// The memory these arguments hold.
    pub fn mem(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.buf.capacity()
            + self.spans.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Builds from any list of byte strings.
    pub fn from_slices<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut o = OwnedArgs::default();
        for it in items {
            o.push(it.as_ref());
        }
        o
    }

    /// Empties it, keeping its buffers for reuse.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }

    /// Appends one argument.
    pub fn push(&mut self, a: &[u8]) {
        let s = self.buf.len();
        self.buf.extend_from_slice(a);
        self.spans.push((s, self.buf.len()));
    }

    /// Borrowed view.
    pub fn args(&self) -> Args<'_> {
        Args::new(&self.buf, &self.spans)
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}
