/* The compiled hot path of a backfill: one walk over a serialised block.
 *
 * `indexer.chain.block.outline_block` walks every block of a backfill to find where each
 * transaction starts, every input's outpoint and every OP_RETURN output, and the syncer
 * checks the transactions against the header's merkle root. In CPython that costs ~20 ms
 * per 1.66 MB mainnet block, most of it interpreter overhead per compact size and per
 * hashed slice; here it is ~1-2 ms (SHA-256 through the CPU's SHA extensions dominates).
 *
 * This module must accept exactly the blocks `parse_block` accepts: on anything it does not
 * like it returns None and the Python side runs the full parser, which raises the precise
 * `ParseError`. The tests compare the two on every vector, on mutants and on random bytes.
 * It is optional: without a C compiler at install time the pure-Python walk is used.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_sha256.h"

#define MAX_MONEY (21000000ULL * 100000000ULL)
#define MIN_TX 10 /* smallest serialised tx: bounds the tx count before allocating */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buf_t;

static int buf_put(buf_t *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int buf_u32(buf_t *b, uint32_t v) { return buf_put(b, &v, 4); }

/* A compact size at *pos; returns 0 when truncated or non-canonical (Core refuses
 * non-minimal encodings, and so does parse_block). */
static int compact(const unsigned char *b, size_t n, size_t *pos, uint64_t *out) {
    size_t p = *pos;
    if (p >= n)
        return 0;
    unsigned f = b[p];
    if (f < 0xFD) {
        *out = f;
        *pos = p + 1;
        return 1;
    }
    size_t w = f == 0xFD ? 2 : f == 0xFE ? 4 : 8;
    uint64_t minimum = f == 0xFD ? 0xFD : f == 0xFE ? 0x10000 : 0x100000000ULL;
    if (n - p - 1 < w)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < w; i++)
        v |= (uint64_t)b[p + 1 + i] << (8 * i);
    if (v < minimum)
        return 0;
    *out = v;
    *pos = p + 1 + w;
    return 1;
}

/* Advance *pos by a length-prefixed byte string; 0 when it runs past the end. */
static int skip_var(const unsigned char *b, size_t n, size_t *pos, size_t *start,
                    size_t *len) {
    uint64_t k;
    if (!compact(b, n, pos, &k))
        return 0;
    if (k > n - *pos)
        return 0;
    if (start)
        *start = *pos;
    if (len)
        *len = (size_t)k;
    *pos += (size_t)k;
    return 1;
}

typedef struct {
    uint64_t ntx;
    buf_t spent, tx_starts, in_starts, wit_starts, op_returns;
    unsigned char *txids; /* ntx * 32, only when hashing */
    unsigned char root[32];
    int failed_alloc;
} walk_t;

static void walk_free(walk_t *w) {
    free(w->spent.p);
    free(w->tx_starts.p);
    free(w->in_starts.p);
    free(w->wit_starts.p);
    free(w->op_returns.p);
    free(w->txids);
}

/* Bitcoin's merkle root over w->txids (odd levels pair their last hash with itself). */
static void merkle(walk_t *w) {
    size_t count = (size_t)w->ntx;
    unsigned char *h = w->txids;
    unsigned char pair[64];
    while (count > 1) {
        size_t j = 0;
        for (size_t i = 0; i < count; i += 2, j++) {
            memcpy(pair, h + 32 * i, 32);
            memcpy(pair + 32, h + 32 * (i + 1 < count ? i + 1 : i), 32);
            lb_hash256_64(h + 32 * j, pair);
        }
        count = j;
    }
    memcpy(w->root, h, 32);
}

/* 1: walked; 0: something parse_block would refuse (or an allocation failed). */
static int walk(const unsigned char *b, size_t n, int hash, walk_t *w) {
    if (n < 80)
        return 0;
    size_t p = 80;
    uint64_t ntx;
    if (!compact(b, n, &p, &ntx))
        return 0;
    if (ntx == 0 || ntx > (n - p) / MIN_TX)
        return 0;
    w->ntx = ntx;
    if (hash) {
        w->txids = malloc((size_t)ntx * 32);
        if (w->txids == NULL)
            goto oom;
    }
    uint32_t inputs = 0;
    for (uint64_t t = 0; t < ntx; t++) {
        size_t start = p;
        if (buf_u32(&w->tx_starts, (uint32_t)p) || buf_u32(&w->in_starts, inputs))
            goto oom;
        if (n - p < 4)
            return 0;
        p += 4;
        int seg = 0;
        if (p + 1 < n && b[p] == 0 && b[p + 1] != 0) {
            if (b[p + 1] != 1)
                return 0;
            seg = 1;
            p += 2;
        }
        size_t body = p; /* first byte after version (and marker/flag) */
        uint64_t nin, nout;
        if (!compact(b, n, &p, &nin))
            return 0;
        if (nin == 0 && !seg)
            return 0;
        if (nin > (n - p) / 41)
            return 0;
        for (uint64_t i = 0; i < nin; i++) {
            if (n - p < 36)
                return 0;
            if (buf_put(&w->spent, b + p, 36))
                goto oom;
            p += 36;
            if (!skip_var(b, n, &p, NULL, NULL))
                return 0;
            if (n - p < 4)
                return 0;
            p += 4;
        }
        inputs += (uint32_t)nin;
        if (!compact(b, n, &p, &nout))
            return 0;
        if (nout > (n - p) / 9)
            return 0;
        for (uint64_t o = 0; o < nout; o++) {
            if (n - p < 8)
                return 0;
            uint64_t value = 0;
            for (int i = 0; i < 8; i++)
                value |= (uint64_t)b[p + i] << (8 * i);
            if (value > MAX_MONEY)
                return 0;
            p += 8;
            size_t s, len;
            if (!skip_var(b, n, &p, &s, &len))
                return 0;
            if (len > 0 && b[s] == 0x6a) {
                if (buf_u32(&w->op_returns, (uint32_t)s) ||
                    buf_u32(&w->op_returns, (uint32_t)(s + len)))
                    goto oom;
            }
        }
        size_t wit = p;
        if (buf_u32(&w->wit_starts, (uint32_t)p))
            goto oom;
        if (seg) {
            uint64_t items = 0;
            for (uint64_t i = 0; i < nin; i++) {
                uint64_t k;
                if (!compact(b, n, &p, &k))
                    return 0;
                if (k > n - p)
                    return 0;
                items += k;
                for (uint64_t j = 0; j < k; j++)
                    if (!skip_var(b, n, &p, NULL, NULL))
                        return 0;
            }
            if (items == 0)
                return 0;
        }
        if (n - p < 4)
            return 0;
        p += 4;
        if (hash) {
            unsigned char *out = w->txids + 32 * t;
            if (seg) {
                /* the txid commits to the serialisation without marker, flag and witness */
                lb_sha256 c;
                unsigned char first[32];
                lb_sha256_init(&c);
                lb_sha256_write(&c, b + start, 4);
                lb_sha256_write(&c, b + body, wit - body);
                lb_sha256_write(&c, b + p - 4, 4);
                lb_sha256_finalize(&c, first);
                lb_sha256_init(&c);
                lb_sha256_write(&c, first, 32);
                lb_sha256_finalize(&c, out);
            } else {
                lb_hash256(out, b + start, p - start);
            }
        }
    }
    if (p != n)
        return 0;
    if (buf_u32(&w->tx_starts, (uint32_t)p) || buf_u32(&w->in_starts, inputs))
        goto oom;
    if (hash)
        merkle(w);
    return 1;
oom:
    w->failed_alloc = 1;
    return 0;
}

static PyObject *as_bytes(const buf_t *b) {
    return PyBytes_FromStringAndSize((const char *)(b->p ? b->p : (unsigned char *)""),
                                     (Py_ssize_t)b->len);
}

PyDoc_STRVAR(walk_doc,
"walk(raw, merkle) -> tuple | None\n\n"
"Walk a serialised block. None when parse_block would refuse it; else\n"
"(tx_count, spent, tx_starts, in_starts, wit_starts, op_returns, root):\n"
"spent is the 36-byte outpoints of every input, concatenated; tx_starts and in_starts\n"
"hold tx_count + 1 native uint32 values, wit_starts tx_count; op_returns holds (start,\n"
"end) uint32 pairs, one per output script that starts with OP_RETURN; root is the\n"
"merkle root of the transactions (internal byte order) when merkle is true, else None.");

static PyObject *py_walk(PyObject *self, PyObject *args) {
    Py_buffer view;
    int hash;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*p:walk", &view, &hash))
        return NULL;
    if (view.len > (Py_ssize_t)UINT32_MAX) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE; /* offsets are uint32; no real block comes near 4 GB */
    }
    walk_t w;
    memset(&w, 0, sizeof w);
    int ok;
    /* NOTE: the buffer is held (and bytes are immutable), so other threads may run. */
    Py_BEGIN_ALLOW_THREADS
    ok = walk((const unsigned char *)view.buf, (size_t)view.len, hash, &w);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *out = NULL;
    if (w.failed_alloc) {
        PyErr_NoMemory();
    } else if (!ok) {
        out = Py_None;
        Py_INCREF(out);
    } else {
        PyObject *root = hash ? PyBytes_FromStringAndSize((const char *)w.root, 32)
                              : (Py_INCREF(Py_None), Py_None);
        if (root != NULL)
            out = Py_BuildValue("(KNNNNNN)", (unsigned long long)w.ntx, as_bytes(&w.spent),
                                as_bytes(&w.tx_starts), as_bytes(&w.in_starts),
                                as_bytes(&w.wit_starts), as_bytes(&w.op_returns), root);
    }
    walk_free(&w);
    return out;
}

static size_t tx_at(const uint32_t *starts, size_t count, size_t pos) {
    /* the last i with starts[i] <= pos (bisect_right - 1); starts[0] <= pos holds */
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (starts[mid] <= pos)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Appends t to a sorted list of unique indexes (callers visit them in order). */
static int hits_add(size_t **hits, size_t *n, size_t *cap, size_t t) {
    if (*n && (*hits)[*n - 1] >= t)
        return 0;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        size_t *nh = realloc(*hits, nc * sizeof **hits);
        if (nh == NULL)
            return -1;
        *hits = nh;
        *cap = nc;
    }
    (*hits)[(*n)++] = t;
    return 0;
}

/* Whether an OP_RETURN script holds d. A mainnet block holds thousands of them, most
 * under 100 bytes, where a plain loop beats memmem's set-up; long ones go to memmem. */
static int span_has(const unsigned char *h, size_t hn, const unsigned char *d, size_t k) {
    if (hn > 256)
        return memmem(h, hn, d, k) != NULL;
    unsigned char first = d[0];
    for (size_t p = 0; p + k <= hn; p++)
        if (h[p] == first && memcmp(h + p, d, k) == 0)
            return 1;
    return 0;
}

typedef struct {
    const unsigned char *data;
    size_t len;
    int op_return_only;
    size_t *hits, nhits, cap;
} needle_t;

/* Every needle of one block in one call, off the GIL: the fetch threads' search runs
 * in parallel with the writer. Same answers as BlockOutline.txs_containing. */
static int search_block(const unsigned char *b, size_t n, const uint32_t *st, size_t count,
                        const uint32_t *ops, size_t nops, needle_t *nd, size_t nn) {
    size_t ntx = count - 1;
    for (size_t q = 0; q < nn; q++) {
        needle_t *x = &nd[q];
        size_t k = x->len;
        if (k == 0)
            continue;
        if (x->op_return_only) {
            for (size_t i = 0; i < nops; i++) {
                size_t s = ops[2 * i], e = ops[2 * i + 1];
                if (e > n || s > e || e - s < k || s < st[0])
                    continue;
                if (span_has(b + s, e - s, x->data, k) &&
                    hits_add(&x->hits, &x->nhits, &x->cap, tx_at(st, count, s)))
                    return -1;
            }
            continue;
        }
        size_t from = st[0];
        while (from + k <= n) {
            const unsigned char *at = memmem(b + from, n - from, x->data, k);
            if (at == NULL)
                break;
            size_t pos = (size_t)(at - b);
            size_t i = tx_at(st, count, pos), j = tx_at(st, count, pos + k - 1);
            if (j > ntx - 1)
                j = ntx - 1;
            for (size_t t = i; t <= j; t++)
                if (hits_add(&x->hits, &x->nhits, &x->cap, t))
                    return -1;
            from = pos + 1;
        }
    }
    return 0;
}

PyDoc_STRVAR(search_doc,
"search(raw, tx_starts, op_returns, needles) -> list[list[int]]\n\n"
"For each (needle, op_return_only) of needles, the sorted indexes of the transactions\n"
"holding it (see BlockOutline.txs_containing); tx_starts and op_returns are the\n"
"outline's uint32 buffers.");

static PyObject *py_search(PyObject *self, PyObject *args) {
    Py_buffer raw, starts, ops;
    PyObject *seq;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*O:search", &raw, &starts, &ops, &seq))
        return NULL;
    PyObject *out = NULL;
    PyObject *fast = PySequence_Fast(seq, "needles must be a sequence");
    size_t nn = 0;
    needle_t *nd = NULL;
    Py_buffer *bufs = NULL;
    size_t held = 0;
    uint32_t *st = NULL, *op = NULL;
    size_t count = (size_t)starts.len / 4, nops = (size_t)ops.len / 8;
    int failed = 0;
    if (fast == NULL)
        goto done;
    nn = (size_t)PySequence_Fast_GET_SIZE(fast);
    nd = calloc(nn ? nn : 1, sizeof *nd);
    bufs = calloc(nn ? nn : 1, sizeof *bufs);
    st = malloc(count ? count * 4 : 4);
    op = malloc(nops ? nops * 8 : 8);
    if (nd == NULL || bufs == NULL || st == NULL || op == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memcpy(st, starts.buf, count * 4);
    memcpy(op, ops.buf, nops * 8);
    for (size_t q = 0; q < nn; q++) {
        int flag;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, (Py_ssize_t)q), "y*p",
                              &bufs[q], &flag))
            goto done;
        held++;
        nd[q].data = bufs[q].buf;
        nd[q].len = (size_t)bufs[q].len;
        nd[q].op_return_only = flag;
    }
    if (count >= 2 && st[0] <= (size_t)raw.len) {
        Py_BEGIN_ALLOW_THREADS
        failed = search_block(raw.buf, (size_t)raw.len, st, count, op, nops, nd, nn);
        Py_END_ALLOW_THREADS
    }
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyList_New((Py_ssize_t)nn);
    for (size_t q = 0; out != NULL && q < nn; q++) {
        PyObject *l = PyList_New((Py_ssize_t)nd[q].nhits);
        for (size_t i = 0; l != NULL && i < nd[q].nhits; i++) {
            PyObject *v = PyLong_FromSize_t(nd[q].hits[i]);
            if (v == NULL)
                Py_CLEAR(l);
            else
                PyList_SET_ITEM(l, (Py_ssize_t)i, v);
        }
        if (l == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, (Py_ssize_t)q, l);
    }
done:
    for (size_t q = 0; q < held; q++)
        PyBuffer_Release(&bufs[q]);
    for (size_t q = 0; nd != NULL && q < nn; q++)
        free(nd[q].hits);
    free(nd);
    free(bufs);
    free(st);
    free(op);
    Py_XDECREF(fast);
    PyBuffer_Release(&raw);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ops);
    return out;
}

/* ------------------------------------------------------------------ OutpointSet
 * The outpoints an adapter tracks (36-byte keys: txid, then vout as 4 bytes LE), asked
 * once per block whether any input spends one. A Python set would need a bytes object
 * per input (~7,000 per mainnet block) just to look it up; here each input is one probe
 * into an open-addressing table. */

#define OP_KEY 36

typedef struct {
    PyObject_HEAD
    unsigned char *keys; /* cap * OP_KEY */
    unsigned char *state; /* 0 empty, 1 full, 2 deleted */
    size_t cap, used, filled; /* filled counts full and deleted slots */
} OutpointSet;

static uint64_t op_hash(const unsigned char *k) {
    uint64_t a, b;
    uint32_t v;
    memcpy(&a, k, 8); /* txids are hashes: their bytes are already uniform */
    memcpy(&b, k + 8, 8);
    memcpy(&v, k + 32, 4);
    uint64_t h = a ^ (b >> 17) ^ ((uint64_t)v * 0x9E3779B97F4A7C15ULL);
    h ^= h >> 29;
    return h;
}

/* The slot holding key, or (when absent) the first free slot on its probe path. */
static size_t op_find(const OutpointSet *s, const unsigned char *key, int *found) {
    size_t mask = s->cap - 1, i = (size_t)op_hash(key) & mask, free_at = SIZE_MAX;
    for (;;) {
        unsigned char st = s->state[i];
        if (st == 0) {
            *found = 0;
            return free_at != SIZE_MAX ? free_at : i;
        }
        if (st == 2) {
            if (free_at == SIZE_MAX)
                free_at = i;
        } else if (memcmp(s->keys + OP_KEY * i, key, OP_KEY) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int op_resize(OutpointSet *s, size_t cap) {
    unsigned char *keys = malloc(cap * OP_KEY), *state = calloc(cap, 1);
    if (keys == NULL || state == NULL) {
        free(keys);
        free(state);
        PyErr_NoMemory();
        return -1;
    }
    unsigned char *ok = s->keys, *ost = s->state;
    size_t ocap = s->cap;
    s->keys = keys;
    s->state = state;
    s->cap = cap;
    s->used = s->filled = 0;
    for (size_t i = 0; i < ocap; i++) {
        if (ost[i] != 1)
            continue;
        int found;
        size_t at = op_find(s, ok + OP_KEY * i, &found);
        memcpy(s->keys + OP_KEY * at, ok + OP_KEY * i, OP_KEY);
        s->state[at] = 1;
        s->used++;
        s->filled++;
    }
    free(ok);
    free(ost);
    return 0;
}

static int op_key(PyObject *arg, Py_buffer *view) {
    if (PyObject_GetBuffer(arg, view, PyBUF_SIMPLE) < 0)
        return -1;
    if (view->len != OP_KEY) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "an outpoint key is %d bytes, got %zd", OP_KEY,
                     view->len);
        return -1;
    }
    return 0;
}

static PyObject *OutpointSet_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    (void)args;
    (void)kw;
    OutpointSet *s = (OutpointSet *)type->tp_alloc(type, 0);
    if (s == NULL)
        return NULL;
    s->cap = 16;
    s->keys = malloc(s->cap * OP_KEY);
    s->state = calloc(s->cap, 1);
    if (s->keys == NULL || s->state == NULL) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    return (PyObject *)s;
}

static void OutpointSet_dealloc(OutpointSet *s) {
    free(s->keys);
    free(s->state);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *OutpointSet_add(OutpointSet *s, PyObject *arg) {
    Py_buffer k;
    if (op_key(arg, &k) < 0)
        return NULL;
    if ((s->filled + 1) * 4 >= s->cap * 3 &&
        op_resize(s, s->used * 4 >= s->cap ? s->cap * 2 : s->cap) < 0) {
        PyBuffer_Release(&k);
        return NULL;
    }
    int found;
    size_t at = op_find(s, k.buf, &found);
    if (!found) {
        if (s->state[at] == 0)
            s->filled++;
        memcpy(s->keys + OP_KEY * at, k.buf, OP_KEY);
        s->state[at] = 1;
        s->used++;
    }
    PyBuffer_Release(&k);
    Py_RETURN_NONE;
}

static PyObject *OutpointSet_discard(OutpointSet *s, PyObject *arg) {
    Py_buffer k;
    if (op_key(arg, &k) < 0)
        return NULL;
    int found;
    size_t at = op_find(s, k.buf, &found);
    if (found) {
        s->state[at] = 2;
        s->used--;
    }
    PyBuffer_Release(&k);
    Py_RETURN_NONE;
}

static int OutpointSet_contains(OutpointSet *s, PyObject *arg) {
    Py_buffer k;
    if (PyObject_GetBuffer(arg, &k, PyBUF_SIMPLE) < 0)
        return -1;
    int found = 0;
    if (k.len == OP_KEY)
        op_find(s, k.buf, &found);
    PyBuffer_Release(&k);
    return found;
}

static Py_ssize_t OutpointSet_len(OutpointSet *s) { return (Py_ssize_t)s->used; }

static PyObject *OutpointSet_spending(OutpointSet *s, PyObject *arg) {
    Py_buffer sp;
    if (PyObject_GetBuffer(arg, &sp, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t n = (size_t)sp.len / OP_KEY;
    size_t *hits = NULL, nhits = 0, cap = 0;
    int oom = 0;
    /* NOTE: the GIL stays held: the probes take ~20 us per block, and the writer (the
     * one caller) would then wait for a fetch thread to hand the GIL back, for longer. */
    if (s->used) {
        const unsigned char *b = sp.buf;
        for (size_t i = 0; i < n; i++) {
            int found;
            op_find(s, b + OP_KEY * i, &found);
            if (found && hits_add(&hits, &nhits, &cap, i)) {
                oom = 1;
                break;
            }
        }
    }
    PyBuffer_Release(&sp);
    if (oom) {
        free(hits);
        return PyErr_NoMemory();
    }
    PyObject *out = PyList_New((Py_ssize_t)nhits);
    for (size_t i = 0; out != NULL && i < nhits; i++) {
        PyObject *v = PyLong_FromSize_t(hits[i]);
        if (v == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    free(hits);
    return out;
}

static PyMethodDef OutpointSet_methods[] = {
    {"add", (PyCFunction)OutpointSet_add, METH_O, "Add a 36-byte outpoint key."},
    {"discard", (PyCFunction)OutpointSet_discard, METH_O,
     "Remove a 36-byte outpoint key if present."},
    {"spending", (PyCFunction)OutpointSet_spending, METH_O,
     "spending(spent) -> list[int]: indexes of the 36-byte records of spent (an\n"
     "outline's inputs) that are in the set."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods OutpointSet_seq = {
    .sq_length = (lenfunc)OutpointSet_len,
    .sq_contains = (objobjproc)OutpointSet_contains,
};

static PyTypeObject OutpointSetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "indexer.chain._outline.OutpointSet",
    .tp_basicsize = sizeof(OutpointSet),
    .tp_dealloc = (destructor)OutpointSet_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A set of 36-byte outpoint keys, checked against a block's inputs in C.",
    .tp_new = OutpointSet_new,
    .tp_methods = OutpointSet_methods,
    .tp_as_sequence = &OutpointSet_seq,
};

PyDoc_STRVAR(hash256_doc, "hash256(data) -> bytes\n\nDouble SHA-256, as Bitcoin hashes.");

static PyObject *py_hash256(PyObject *self, PyObject *args) {
    Py_buffer view;
    unsigned char out[32];
    (void)self;
    if (!PyArg_ParseTuple(args, "y*:hash256", &view))
        return NULL;
    lb_hash256(out, (const unsigned char *)view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

static PyObject *py_sha256_impl(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyUnicode_FromString(lb_sha256_impl());
}

static PyObject *py_force_portable(PyObject *self, PyObject *args) {
    int on;
    (void)self;
    if (!PyArg_ParseTuple(args, "p:force_portable_sha256", &on))
        return NULL;
    lb_sha256_force_portable(on);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"walk", py_walk, METH_VARARGS, walk_doc},
    {"search", py_search, METH_VARARGS, search_doc},
    {"hash256", py_hash256, METH_VARARGS, hash256_doc},
    {"sha256_impl", py_sha256_impl, METH_NOARGS,
     "Which SHA-256 transform is in use: 'sha-ni' or 'portable'."},
    {"force_portable_sha256", py_force_portable, METH_VARARGS,
     "Use the portable SHA-256 transform even where SHA-NI exists (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_outline",
    "Compiled block walk and double SHA-256 (see indexer.chain.block).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__outline(void) {
    lb_sha256_setup();
    if (PyType_Ready(&OutpointSetType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&OutpointSetType);
    if (PyModule_AddObject(m, "OutpointSet", (PyObject *)&OutpointSetType) < 0) {
        Py_DECREF(&OutpointSetType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
