#!/usr/bin/env python3
"""Captures real redis-server 7.0.15 behaviour into the fixtures the cinnabar-config tests
compare against. Run from any directory with redis-server on PATH:

    python3 gen_oracle.py

It writes config-set-get.txt (CONFIG SET / GET replies, replayed in order on a server started
with `--port 0 --unixsocket <sock>`) and load-errors.txt (stderr of redis-server for bad
configuration files / command lines).
"""
import os, shutil, socket, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))

def repr_arg(b):
    out = '"'
    for c in b:
        if c in (0x5c, 0x22): out += '\\' + chr(c)
        elif c == 10: out += '\\n'
        elif c == 13: out += '\\r'
        elif c == 9: out += '\\t'
        elif c == 7: out += '\\a'
        elif c == 8: out += '\\b'
        elif 0x20 <= c <= 0x7e: out += chr(c)
        else: out += '\\x%02x' % c
    return out + '"'

class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b''
    def line(self):
        while b'\r\n' not in self.buf:
            self.buf += self.s.recv(65536)
        l, self.buf = self.buf.split(b'\r\n', 1)
        return l
    def read(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(65536)
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d
    def reply(self):
        l = self.line()
        t, rest = l[:1], l[1:]
        if t in (b'+', b'-'): return l.decode('latin1')
        if t == b':': return l.decode()
        if t == b'$': return self.read(int(rest))
        if t == b'*': return [self.reply() for _ in range(int(rest))]
        raise Exception(l)
    def cmd(self, *args):
        args = [a if isinstance(a, bytes) else a.encode() for a in args]
        msg = b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)
        self.s.sendall(msg)
        return self.reply()

def render(r):
    if isinstance(r, list):
        return '*' + ''.join(' ' + repr_arg(x) for x in r)
    return r

SET_CASES = [
    ['maxmemory', '1gb'], ['maxmemory', '1GB'], ['maxmemory', '1k'], ['maxmemory', '1Kb'],
    ['maxmemory', '2m'], ['maxmemory', '2mb'], ['maxmemory', '3g'], ['maxmemory', '12b'],
    ['maxmemory', '-1'], ['maxmemory', '1x'], ['maxmemory', ''], ['maxmemory', '99999999999999999999999'],
    ['maxmemory', '0'],
    ['foo', '1'], ['FOO', '1', 'maxmemory', '1'], ['daemonize', 'yes'], ['DAEMONIZE', 'yes'],
    ['dir', '/tmp'], ['dbfilename', 'x'], ['maxmemory', '1', 'maxmemory', '2'],
    ['MAXMEMORY', '1', 'maxmemory', '2'], ['slave-read-only', 'no', 'replica-read-only', 'yes'],
    ['SLAVE-READ-ONLY', 'maybe'], ['appendonly', 'maybe'], ['appendonly', 'YES'], ['appendonly', 'no'],
    ['hz', 'abc'], ['hz', '-1'], ['hz', '0'], ['hz', '1000'], ['hz', '+5'], ['hz', '05'], ['hz', ' 5'],
    ['hz', '10'],
    ['active-expire-effort', '0'], ['active-expire-effort', '11'],
    ['maxmemory-clients', '101%'], ['maxmemory-clients', '-5%'], ['maxmemory-clients', 'abc'],
    ['maxmemory-clients', '10%'], ['maxmemory-clients', '100%'], ['maxmemory-clients', '5mb'],
    ['maxmemory-clients', '%'], ['maxmemory-clients', '0'],
    ['maxclients', '0'], ['maxclients', '-1'], ['maxclients', '4294967296'],
    ['proto-max-bulk-len', '1000'], ['proto-max-bulk-len', '2mb'], ['proto-max-bulk-len', '512mb'],
    ['maxmemory-policy', 'foo'], ['maxmemory-policy', 'ALLKEYS-LRU'], ['maxmemory-policy', 'noeviction'],
    ['loglevel', 'debug warning'],
    ['save', '1'], ['save', '1 2'], ['save', '3600  1'], ['save', '10 1 20'], ['save', '0 1'],
    ['save', '10 -1'], ['save', ''], ['save', '3600 1 300 100 60 10000'], ['save', '+5 -0'],
    ['save', '10 '],
    ['client-output-buffer-limit', 'foo 1 1 1'], ['client-output-buffer-limit', 'master 1 1 1'],
    ['client-output-buffer-limit', 'normal 1 1'], ['client-output-buffer-limit', 'normal 1x 1 1'],
    ['client-output-buffer-limit', 'normal 1 1 -1'], ['client-output-buffer-limit', 'pubsub 1mb 2MB 3'],
    ['client-output-buffer-limit', 'replica 1gb 1k 4294967296 normal 1 2 3'],
    ['client-output-buffer-limit', ''],
    ['client-output-buffer-limit', 'normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60'],
    ['oom-score-adj-values', '1 2'], ['oom-score-adj-values', '1 2 3000'], ['oom-score-adj-values', '3 2 1'],
    ['oom-score-adj-values', '0 200 800'], ['oom-score-adj-values', ''],
    ['notify-keyspace-events', 'Q'], ['notify-keyspace-events', 'KEA'], ['notify-keyspace-events', 'Ex'],
    ['notify-keyspace-events', 'An'], ['notify-keyspace-events', 'mK$lshzxetdng'],
    ['notify-keyspace-events', ''],
    ['latency-tracking-info-percentiles', 'abc'], ['latency-tracking-info-percentiles', '101'],
    ['latency-tracking-info-percentiles', '-1'], ['latency-tracking-info-percentiles', '1.5 99.99 0 100'],
    ['latency-tracking-info-percentiles', ''], ['latency-tracking-info-percentiles', '12.3456789'],
    ['latency-tracking-info-percentiles', '1e1'], ['latency-tracking-info-percentiles', '50 99 99.9'],
    ['activedefrag', 'yes'], ['activedefrag', 'no'],
    ['foo', '1', 'daemonize', 'yes'], ['daemonize', 'yes', 'foo', '1'], ['hz', '5', 'foo', '1'],
    ['hz', '7', 'maxmemory-policy', 'bogus'], ['hz', '8', 'maxmemory', '5mb'],
    ['slaveof', 'a 1'], ['replicaof', 'no one'],
    ['cluster-announce-hostname', 'a b'], ['cluster-announce-hostname', 'a.b-c'],
    ['cluster-announce-hostname', 'x' * 300], ['cluster-announce-hostname', ''],
    ['proc-title-template', '{title}'], ['proc-title-template', '{foo}'], ['proc-title-template', '{title'],
    ['proc-title-template', '{{ {listen-addr}'], ['proc-title-template', '{title} {listen-addr} {server-mode}'],
    ['replica-announce-ip', ''], ['replica-announce-ip', 'a b"c\\'], ['replica-announce-ip', ''],
    ['list-max-listpack-size', '99999999999'], ['list-max-listpack-size', '-5'],
    ['list-max-ziplist-size', '-2'],
    ['hash-max-listpack-value', '-1'], ['hash-max-ziplist-value', '1kb'], ['hash-max-listpack-value', '64'],
    ['repl-backlog-size', '0'], ['repl-backlog-size', '-1'], ['repl-backlog-size', '1mb'],
    ['lua-time-limit', 'x'], ['lua-time-limit', '6000'], ['busy-reply-threshold', '5000'],
    ['requirepass', ''], ['masterauth', 'se cret'], ['masterauth', ''],
    ['shutdown-on-sigint', 'default save'], ['shutdown-on-sigint', 'now save force'],
    ['shutdown-on-sigint', 'save nosave'], ['shutdown-on-sigint', ''], ['shutdown-on-sigint', 'bogus'],
    ['shutdown-on-sigint', 'default'],
    ['oom-score-adj', 'relative'], ['oom-score-adj', 'absolute'], ['oom-score-adj', 'no'],
    ['acl-pubsub-default', 'allchannels'], ['acl-pubsub-default', 'resetchannels'],
    ['slowlog-log-slower-than', '-2'], ['slowlog-log-slower-than', '-1'], ['slowlog-log-slower-than', '10000'],
    ['unixsocketperm', '700'], ['tls-port', 'x'], ['tls-cert-file', ''],
    ['cluster-link-sendbuf-limit', '18446744073709551615'], ['cluster-link-sendbuf-limit', '0'],
    ['stream-node-max-bytes', '4k'], ['stream-node-max-bytes', '4096'],
    ['watchdog-period', '0'], ['use-exit-on-panic', 'no'],
    ['appendfsync', 'always'], ['appendfsync', 'everysec'],
    ['repl-diskless-load', 'swapdb'], ['repl-diskless-load', 'disabled'],
]

GET_CASES = [
    ['*max*'], ['MAXMEMORY'], ['maxmemory', 'MAXMEMORY', 'maxmem*'], ['slave*'], ['replicaof', 'slaveof'],
    ['use-exit-on-panic'], ['use-exit*'], ['[ab]ind'], ['h?'], ['nosuch'], ['*list*'], ['*ziplist*'],
    ['save', 'client-output-buffer-limit', 'bind', 'notify-keyspace-events'], ['*-*-*-*-*'],
    ['[^a-y]*'], ['tls-*'], ['*time*', '*timeout*'], ['lua*'], ['rdb-key-save-delay', 'key-load-delay'],
    ['*[0-9]*'],
]

def gen_set_get(out):
    d = tempfile.mkdtemp()
    sock = os.path.join(d, 'r.sock')
    p = subprocess.Popen(['redis-server', '--port', '0', '--unixsocket', sock, '--dir', d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock): break
            time.sleep(0.05)
        c = Conn(sock)
        lines = ['# CONFIG SET / GET against redis-server 7.0.15 started with --port 0 --unixsocket <sock>.',
                 '# "> " command tokens (quoted), "< " reply: +OK / -ERR ... / * followed by quoted elements.']
        def run(args):
            lines.append('> ' + ' '.join(repr_arg(a.encode()) for a in args))
            lines.append('< ' + render(c.cmd(*args)))
        for case in SET_CASES:
            run(['config', 'set'] + case)
            names = [case[i] for i in range(0, len(case), 2)]
            run(['config', 'get'] + names)
        for case in GET_CASES:
            run(['config', 'get'] + case)
        open(out, 'w').write('\n'.join(lines) + '\n')
    finally:
        p.terminate(); p.wait()
        shutil.rmtree(d, ignore_errors=True)

LOAD_CASES = [
    ('port 7000\nfoobar 1\n', []), ('port 1 2\n', []), ('appendonly maybe\n', []), ('hz abc\n', []),
    ('maxmemory-policy x\n', []), ('save "1 2\n', []), ('save "1"x\n', []), ('sentinel monitor x\n', []),
    ('user\n', []), ('cluster-enabled yes\nreplicaof 1.2.3.4 1\n', []), ('', ['--port', 'abc']),
    ('port 1\n', ['--foo', 'bar']), ('port 1', ['--foo', 'bar']), ('unixsocketperm 999\n', []),
    ('unixsocketperm 1000\n', []), ('  \t  FOOBAR  1  \t\n', []), ('dir /nonexistent\n', []),
    ('dir /etc/passwd\n', []),
    ('list-max-ziplist-entries 1\nlist-max-ziplist-entries 1 2\n', []), ('foo.bar\n', []),
    ('activedefrag yes\n', []), ('# c\n\nsave 10 1 2\n', []), ('save 10 "1 2"\n', []),
    ('bind "a b" c\nmaxmemory 1 2\n', []), ('include\n', []), ('include a b\n', []),
    ('loadmodule\n', []), ('rename-command a\n', []), ('slaveof 1.2.3.4\n', []),
    ('replicaof 1.2.3.4 99999\n', []), ('replicaof no one\nreplicaof a b\n', []),
    ('client-output-buffer-limit normal 1 2\n', []), ('oom-score-adj-values 1 2\n', []),
    ('notify-keyspace-events Q\n', []), ('notify-keyspace-events "a b"\n', []),
    ('latency-tracking-info-percentiles x\n', []), ('shutdown-on-sigterm save nosave\n', []),
    ('shutdown-on-sigterm\n', []), ('bind 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n', []),
    ('appendfilename ""\n', []), ('appendfilename a/b\n', []), ('appenddirname ""\n', []),
    ('appenddirname a/b\n', []), ('dbfilename a/b\n', []), ('maxmemory-clients 200%\n', []),
    ('', ['--port', '0', '--masterauth', '--secret-x', '--loglevel', 'debugx']),
    ('', ['--port', '0', '--save', '--loglevel', 'x']), ('', ['--port 0 --loglevel', 'x']),
    ('', ['--port', '0', '--bind', 'a', 'b', '--loglevel', 'x']), ('', ['--port', '0', '-x', '--loglevel', 'x']),
    ('hz 5\n', ['--hz', '5', '6']), ('', ['--save', '10', '--save', 'x']),
    ('', ['--"port', '1']), ('', ['--port', '1', 'a"b']), ('logfile /nonexistent/x.log\n', []),
    ('port 0\nlogfile "/nonexistent/x.log"\nhz 5 6\n', []), ('"unbalanced\n', []),
    ("'it''s'\n", []), ('"a\\x41" b\n', []), ('\x0bport 1 2\n', []),
]

def gen_load_errors(out):
    d = tempfile.mkdtemp()
    f = os.path.join(d, 'bad.conf')
    lines = ['# redis-server 7.0.15 <file> <args> stderr for bad configurations.',
             '# "= " file text (quoted), "+ " extra args (quoted), then the stderr lines, then "."']
    for text, args in LOAD_CASES:
        open(f, 'w').write(text)
        r = subprocess.run(['redis-server', f] + args, capture_output=True, timeout=5)
        assert r.returncode == 1, (text, args, r)
        lines.append('= ' + repr_arg(text.encode()))
        lines.append('+ ' + ' '.join(repr_arg(a.encode()) for a in args))
        lines.extend(r.stderr.decode('latin1').split('\n'))
        lines.append('.')
    shutil.rmtree(d, ignore_errors=True)
    open(out, 'w').write('\n'.join(lines) + '\n')

# (name, config file text, extra files, CONFIG SET pairs, text appended to the file after start)
REWRITE_CASES = [
    ('comments-aliases-include',
     '# top comment\n   # indented comment   \nport 0\nunixsocket @DIR@/r.sock\nsave 900 1\nsave 300 10\n\n'
     'slave-read-only yes\nrename-command KEYS ""\ninclude @DIR@/inc.conf\nlist-max-ziplist-entries 1\n'
     'maxmemory 100mb\n\n\nbind 127.0.0.1\nhz 10\nlogfile ""\n',
     {'inc.conf': 'loglevel notice\n'},
     ['maxmemory', '2gb', 'maxmemory-policy', 'allkeys-lru', 'notify-keyspace-events', 'KEA',
      'client-output-buffer-limit', 'pubsub 1mb 2mb 3', 'oom-score-adj-values', '1 2 3', 'save', '100 2',
      'replica-announce-ip', 'a b"c', 'maxmemory-clients', '10%', 'hz', '10'],
     ''),
    ('minimal',
     'port 0\nunixsocket @DIR@/r.sock',
     {},
     ['requirepass', 'foo', 'save', '', 'bind', '127.0.0.1 -::1', 'latency-tracking-info-percentiles', '',
      'hz', '20', 'shutdown-on-sigterm', 'save now', 'slowlog-max-len', '1000', 'list-max-listpack-size', '-3',
      'lazyfree-lazy-eviction', 'yes', 'maxmemory', '1000'],
     ''),
    ('duplicates-unknown-lines',
     'port 0\nunixsocket @DIR@/r.sock\nmaxmemory 1mb\nmaxmemory 2mb\nsave 10 1\nslaveof 1.2.3.4 6379\n'
     '# Generated by CONFIG REWRITE\nhz 15\n',
     {},
     ['slave-priority', '50', 'maxmemory', '3mb', 'save', '20 2 30 3', 'hz', '10', 'timeout', '0',
      'tcp-keepalive', '300', 'notify-keyspace-events', 'Ex', 'client-output-buffer-limit', 'normal 1mb 0 0',
      'bind', ''],
     'foo-unknown 1\n"unbalanced\nlist-max-ziplist-entries 5\n  # trailing comment  \n\n\n'),
    ('empty-file',
     '',
     {},
     ['maxmemory', '1gb'],
     ''),
]

# Config files that load; CONFIG GET * is captured (@DIR@ is the temporary directory).
LOAD_OK_CASES = [
    ('many',
     'port 0\nunixsocket @DIR@/r.sock\nunixsocketperm 0755\nmaxmemory 1GB\nmaxmemory-clients 5%\n'
     'oom-score-adj yes\nacl-pubsub-default allchannels\nshutdown-on-sigint "save now"\n'
     'shutdown-on-sigterm nosave force\nsave 900 1\nsave ""\nsave 100 10\n'
     'notify-keyspace-events "KExg"\nclient-output-buffer-limit replica 1gb 512mb 0 pubsub 0 0 0\n'
     'client-output-buffer-limit "normal 1 2 3"\noom-score-adj-values "-5 0 2000"\n'
     'latency-tracking-info-percentiles "0.5 12.25 100"\nreplica-announce-ip "a\\x41 \\"b"\n'
     'masterauth \'pa ss\'\nrequirepass "\\x00z"\nhz 0\nlist-max-ziplist-size 7\nslave-priority 0\n'
     'lua-time-limit 100\nappendfsync no\nsupervised auto\nsyslog-facility local7\nloglevel WARNING\n'
     'bind "127.0.0.1 -::1"\nlist-max-ziplist-value 64\nlua-replicate-commands yes\n'
     'proto-max-bulk-len 1g\nclient-query-buffer-limit 2mb\nrepl-backlog-size 1\ntimeout 30\n'
     'aclfile ""\npidfile ""\nlogfile ""\nsyslog-ident ""\ndbfilename "x.rdb"\nappenddirname d\n'
     'dir @DIR@\nignore-warnings ARM64-COW-BUG\nbind-source-addr 1.2.3.4\nenable-debug-command local\n'
     'cluster-announce-hostname a-b.c\nproc-title-template "{{ {title}"\nstream-node-max-bytes 0\n',
     []),
    ('cli', 'port 0\n', ['--unixsocket', '@DIR@/r.sock', '--save', '--bind', '127.0.0.1', '::1',
                         '--maxmemory', '100mb', '--replicaof', '10.0.0.1 6380', '--masterauth', '--x--',
                         '--notify-keyspace-events', '', '--hz', '1000', '--dir', '@DIR@']),
]

def gen_load_ok(out):
    lines = ['# CONFIG GET * of redis-server 7.0.15 started with a file (and args). Per case: "@ name",',
             '# "= " file (quoted), "+ " args (quoted), then "< name value" pairs (quoted).']
    for name, text, args in LOAD_OK_CASES:
        d = tempfile.mkdtemp()
        conf = os.path.join(d, 'r.conf')
        sock = os.path.join(d, 'r.sock')
        open(conf, 'w').write(text.replace('@DIR@', d))
        p = subprocess.Popen(['redis-server', conf] + [a.replace('@DIR@', d) for a in args], cwd='/',
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(sock): break
                time.sleep(0.05)
            c = Conn(sock)
            c.cmd('auth', b'\x00z') if 'requirepass' in text else None
            r = c.cmd('config', 'get', '*')
        finally:
            p.terminate(); p.wait()
        shutil.rmtree(d, ignore_errors=True)
        lines.append('@ ' + name)
        lines.append('= ' + repr_arg(text.encode()))
        lines.append('+ ' + ' '.join(repr_arg(a.encode()) for a in args))
        for k, v in zip(r[0::2], r[1::2]):
            lines.append('< ' + repr_arg(k) + ' ' + repr_arg(v.replace(d.encode(), b'@DIR@')))
    open(out, 'w').write('\n'.join(lines) + '\n')

def gen_rewrite(out):
    lines = ['# CONFIG REWRITE by redis-server 7.0.15. Per case: "@ name", "= " start file (quoted),',
             '# "f name text" extra files, "> " CONFIG SET tokens, "+ " text appended after start,',
             '# then the rewritten file (quoted, @DIR@ for the temporary directory).']
    for name, text, files, sets, after in REWRITE_CASES:
        d = tempfile.mkdtemp()
        for fn, ft in files.items():
            open(os.path.join(d, fn), 'w').write(ft.replace('@DIR@', d))
        conf = os.path.join(d, 'r.conf')
        sock = os.path.join(d, 'r.sock')
        body = text.replace('@DIR@', d)
        if 'unixsocket' not in body:
            extra = ['--port', '0', '--unixsocket', sock]
        else:
            extra = []
        open(conf, 'w').write(body)
        p = subprocess.Popen(['redis-server', conf] + extra, cwd=d,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if os.path.exists(sock): break
                time.sleep(0.05)
            c = Conn(sock)
            r = c.cmd('config', 'set', *sets)
            assert r == '+OK', r
            if after:
                open(conf, 'a').write(after.replace('@DIR@', d))
            r = c.cmd('config', 'rewrite')
            assert r == '+OK', r
            result = open(conf).read().replace(d, '@DIR@')
        finally:
            p.terminate(); p.wait()
        shutil.rmtree(d, ignore_errors=True)
        lines.append('@ ' + name)
        lines.append('= ' + repr_arg(text.encode()))
        for fn, ft in files.items():
            lines.append('f ' + fn + ' ' + repr_arg(ft.encode()))
        lines.append('> ' + ' '.join(repr_arg(a.encode()) for a in sets))
        lines.append('+ ' + repr_arg(after.encode()))
        lines.append('< ' + repr_arg(result.encode()))
    open(out, 'w').write('\n'.join(lines) + '\n')

if __name__ == '__main__':
    gen_set_get(os.path.join(HERE, 'config-set-get.txt'))
    gen_load_errors(os.path.join(HERE, 'load-errors.txt'))
    gen_rewrite(os.path.join(HERE, 'rewrite.txt'))
    gen_load_ok(os.path.join(HERE, 'load-ok.txt'))
