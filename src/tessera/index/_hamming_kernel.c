/* The compiled core of the Hamming index: multi-index-hashing probes and brute-force scans.
 *
 * Hashes are rows of four native uint64 words (word 0 holds bits 0-63, bit 0 being the most
 * significant bit of word 0), exactly as tessera/index/_words.py lays them out. Arrays arrive
 * through the buffer protocol, so building needs no numpy headers; results leave as three bytes
 * objects (int64 query index, int64 id, int32 distance) that the caller views with numpy, sorted
 * by query, then distance, then id, so the caller has nothing left to sort.
 *
 * mih_search(hashes, ids, dead, offsets, perm, tables, masks, queries, radius), for each query:
 *   1. computes every probe's bucket address: table t's substring key XOR each of its flip
 *      masks, plus the table's base in the dense offsets array;
 *   2. reads each bucket's bounds (offsets[a], offsets[a + 1]), prefetching a few probes ahead;
 *   3. expands the non-empty buckets into candidate rows (perm), prefetching buckets ahead;
 *   4. verifies each candidate on all 256 bits, prefetching candidate rows ahead, and emits it
 *      only from the first table whose substring is within that table's probe radius (the
 *      classic MIH rule: a row found by several tables is reported once, without a hash set);
 *   5. drops the rows listed in ``dead`` (sorted tombstones), turns rows into ids and sorts the
 *      query's hits (a counting sort by distance, then by id).
 * scan(hashes, ids, dead, queries, radius) compares every row with every query, in cache-sized
 * blocks of rows so that each block is reused across the queries of a batch, then does step 5.
 * check(offsets, perm, rows) validates tables read from a file, so a corrupt snapshot raises
 * instead of making the probes read out of bounds.
 * index_hits(cls, ids, distances, lo, hi) makes the ``IndexHit`` list of a query's hits.
 *
 * Both searches release the GIL: a batch split across threads runs on all cores. On x86 the hot
 * loops are compiled twice, with and without the POPCNT instruction, and chosen at import by
 * the CPU's features, so the module is built for the baseline ISA and still counts bits fast.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WORDS 4
#define HASH_BYTES 32
#define TABLE_FIELDS 6 /* start bit, width, base, radius, first mask, end mask */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 32
#endif
#define SCAN_BLOCK_ROWS 8192 /* 256 KiB of rows: stays in L2 while each query passes over it */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch((p), 0, 1)
#define INLINE static inline __attribute__((always_inline))
#else
#define PREFETCH(p) ((void)0)
#define INLINE static inline
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define DISPATCH_POPCNT 1
#endif

/* ---- growable outputs ------------------------------------------------------------------- */

typedef struct {
    int64_t query;
    int64_t key; /* the row while searching; the id once finished */
    int32_t dist;
} Hit;

typedef struct {
    Hit *hit;
    size_t n, cap;
    Hit *tmp; /* scratch for sorting, grown with hit */
    size_t tmp_cap;
    int failed; /* out of memory: the caller raises once it holds the GIL again */
} Hits;

static int hits_grow(Hits *h) {
    size_t cap = h->cap ? 2 * h->cap : 256;
    Hit *p = realloc(h->hit, cap * sizeof(Hit));
    if (!p) {
        h->failed = 1;
        return -1;
    }
    h->hit = p;
    h->cap = cap;
    return 0;
}

INLINE void hits_push(Hits *h, int64_t query, int64_t row, uint32_t dist) {
    if (h->n == h->cap && hits_grow(h) < 0) return;
    h->hit[h->n++] = (Hit){query, row, (int32_t)dist};
}

static void hits_free(Hits *h) {
    free(h->hit);
    free(h->tmp);
}

/* Rows that the caller tombstoned: a sorted int64 array, searched by bisection. */
typedef struct {
    const int64_t *rows;
    size_t n;
} Dead;

INLINE int is_dead(const Dead *dead, int64_t row) {
    size_t lo = 0, hi = dead->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (dead->rows[mid] < row)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < dead->n && dead->rows[lo] == row;
}

static int hit_order(const void *pa, const void *pb) {
    const Hit *a = pa, *b = pb;
    if (a->query != b->query) return a->query < b->query ? -1 : 1;
    if (a->dist != b->dist) return a->dist < b->dist ? -1 : 1;
    return (a->key > b->key) - (a->key < b->key);
}

/* Hits [from, n): drop dead rows, turn rows into ids, and sort by (query, distance, id). When
 * ``one_query`` is set they share a query: a counting sort by distance, then ids within each
 * distance by insertion (few share one), instead of a comparison sort of the whole run. */
static void hits_finish(Hits *h, size_t from, const int64_t *ids, const Dead *dead,
                        int one_query, uint32_t radius) {
    size_t kept = from;
    for (size_t i = from; i < h->n; i++) {
        Hit x = h->hit[i];
        if (dead->n && is_dead(dead, x.key)) continue;
        x.key = ids[x.key];
        h->hit[kept++] = x;
    }
    h->n = kept;
    size_t n = kept - from;
    if (n < 2) return;
    Hit *run = h->hit + from;
    if (!one_query || n < 32) {
        if (one_query) { /* insertion sort: short runs */
            for (size_t i = 1; i < n; i++) {
                Hit x = run[i];
                size_t j = i;
                while (j > 0 && hit_order(&run[j - 1], &x) > 0) {
                    run[j] = run[j - 1];
                    j--;
                }
                run[j] = x;
            }
        } else {
            qsort(run, n, sizeof(Hit), hit_order);
        }
        return;
    }
    if (h->tmp_cap < n) {
        Hit *t = realloc(h->tmp, n * sizeof(Hit));
        if (!t) {
            h->failed = 1;
            return;
        }
        h->tmp = t;
        h->tmp_cap = n;
    }
    size_t start[258] = {0};
    for (size_t i = 0; i < n; i++) start[run[i].dist + 1]++;
    for (uint32_t d = 0; d <= radius; d++) start[d + 1] += start[d];
    size_t fill[257];
    memcpy(fill, start, sizeof(fill));
    for (size_t i = 0; i < n; i++) h->tmp[fill[run[i].dist]++] = run[i];
    for (uint32_t d = 0; d <= radius; d++) {
        Hit *g = h->tmp + start[d];
        size_t m = start[d + 1] - start[d];
        if (m > 24) {
            qsort(g, m, sizeof(Hit), hit_order);
            continue;
        }
        for (size_t i = 1; i < m; i++) {
            Hit x = g[i];
            size_t j = i;
            while (j > 0 && g[j - 1].key > x.key) {
                g[j] = g[j - 1];
                j--;
            }
            g[j] = x;
        }
    }
    memcpy(run, h->tmp, n * sizeof(Hit));
}

/* The hits as three bytes objects: int64 query indexes, int64 ids, int32 distances. */
static PyObject *hits_result(Hits *h) {
    if (h->failed) {
        hits_free(h);
        return PyErr_NoMemory();
    }
    PyObject *q = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(h->n * sizeof(int64_t)));
    PyObject *k = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(h->n * sizeof(int64_t)));
    PyObject *d = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(h->n * sizeof(int32_t)));
    PyObject *out = NULL;
    if (q && k && d) {
        int64_t *qp = (int64_t *)PyBytes_AS_STRING(q), *kp = (int64_t *)PyBytes_AS_STRING(k);
        int32_t *dp = (int32_t *)PyBytes_AS_STRING(d);
        for (size_t i = 0; i < h->n; i++) {
            qp[i] = h->hit[i].query;
            kp[i] = h->hit[i].key;
            dp[i] = h->hit[i].dist;
        }
        out = PyTuple_Pack(3, q, k, d);
    }
    Py_XDECREF(q);
    Py_XDECREF(k);
    Py_XDECREF(d);
    hits_free(h);
    return out;
}

/* ---- bit helpers ------------------------------------------------------------------------ */

/* ``width`` bits of a 256-bit row starting at bit ``start``, as an integer. */
INLINE uint64_t substring(const uint64_t *h, int start, int width) {
    int word = start >> 6, off = start & 63;
    uint64_t v = h[word] << off;
    if (off && word + 1 < WORDS) v |= h[word + 1] >> (64 - off);
    return v >> (64 - width);
}

INLINE uint32_t distance(const uint64_t *a, const uint64_t *q) {
    return (uint32_t)(__builtin_popcountll(a[0] ^ q[0]) + __builtin_popcountll(a[1] ^ q[1]) +
                      __builtin_popcountll(a[2] ^ q[2]) + __builtin_popcountll(a[3] ^ q[3]));
}

/* ---- multi-index hashing ---------------------------------------------------------------- */

typedef struct {
    int start, width, radius;
    int64_t base, first, end; /* address offset; flip masks [first, end) */
} Table;

typedef struct {
    const uint64_t *hashes;
    const int64_t *ids; /* one per row */
    Dead dead;
    const void *offsets;
    int wide; /* offsets are int64 (else int32) */
    const uint32_t *perm;
    const Table *tables;
    int ntables;
    const int64_t *masks;
    size_t probes; /* total flip masks over all tables */
} Segment;

typedef struct {
    int64_t lo, hi;
    int table;
} Bucket;

typedef struct {
    int64_t *addr;
    uint8_t *addr_table;
    Bucket *buckets;
    uint32_t *cand;
    uint8_t *cand_table;
    size_t cand_cap;
} Work;

INLINE int64_t offset_at(const Segment *s, int64_t i) {
    return s->wide ? ((const int64_t *)s->offsets)[i] : ((const int32_t *)s->offsets)[i];
}

INLINE const void *offset_ptr(const Segment *s, int64_t i) {
    return s->wide ? (const void *)((const int64_t *)s->offsets + i)
                   : (const void *)((const int32_t *)s->offsets + i);
}

/* Whether a row (``x``: row XOR query) was already reported by a table before ``table``. */
INLINE int seen_before(const Segment *s, const uint64_t *x, int table) {
    for (int t = 0; t < table; t++) {
        const Table *tb = &s->tables[t];
        if (tb->radius >= 0 &&
            __builtin_popcountll(substring(x, tb->start, tb->width)) <= tb->radius)
            return 1;
    }
    return 0;
}

INLINE void mih_query(const Segment *s, Work *w, const uint64_t *q, uint32_t radius,
                      int64_t qi, Hits *out) {
    size_t first_hit = out->n;
    /* 1. bucket addresses */
    size_t np = 0;
    for (int t = 0; t < s->ntables; t++) {
        const Table *tb = &s->tables[t];
        uint64_t key = substring(q, tb->start, tb->width);
        uint64_t keep = tb->width >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << tb->width) - 1);
        for (int64_t k = tb->first; k < tb->end; k++) {
            w->addr[np] = tb->base + (int64_t)((key ^ (uint64_t)s->masks[k]) & keep);
            w->addr_table[np] = (uint8_t)t;
            np++;
        }
    }
    /* 2. bucket bounds */
    size_t nb = 0;
    for (size_t i = 0; i < np; i++) {
        if (i + PREFETCH_AHEAD < np) PREFETCH(offset_ptr(s, w->addr[i + PREFETCH_AHEAD]));
        int64_t lo = offset_at(s, w->addr[i]), hi = offset_at(s, w->addr[i] + 1);
        if (hi > lo) {
            w->buckets[nb].lo = lo;
            w->buckets[nb].hi = hi;
            w->buckets[nb].table = w->addr_table[i];
            nb++;
        }
    }
    /* 3. candidate rows */
    size_t nc = 0;
    for (size_t b = 0; b < nb; b++) {
        if (b + PREFETCH_AHEAD < nb) PREFETCH(s->perm + w->buckets[b + PREFETCH_AHEAD].lo);
        const Bucket *bk = &w->buckets[b];
        size_t need = nc + (size_t)(bk->hi - bk->lo);
        if (need > w->cand_cap) {
            size_t cap = w->cand_cap;
            while (cap < need) cap *= 2;
            uint32_t *c = realloc(w->cand, cap * sizeof(uint32_t));
            if (c) w->cand = c;
            uint8_t *ct = realloc(w->cand_table, cap);
            if (ct) w->cand_table = ct;
            if (!c || !ct) {
                out->failed = 1;
                return;
            }
            w->cand_cap = cap;
        }
        for (int64_t j = bk->lo; j < bk->hi; j++) {
            w->cand[nc] = s->perm[j];
            w->cand_table[nc] = (uint8_t)bk->table;
            nc++;
        }
    }
    /* 4. verification, each row reported by its first table only */
    for (size_t i = 0; i < nc; i++) {
        if (i + PREFETCH_AHEAD < nc)
            PREFETCH(s->hashes + (size_t)w->cand[i + PREFETCH_AHEAD] * WORDS);
        const uint64_t *h = s->hashes + (size_t)w->cand[i] * WORDS;
        uint32_t d = distance(h, q);
        if (d > radius) continue;
        uint64_t x[WORDS] = {h[0] ^ q[0], h[1] ^ q[1], h[2] ^ q[2], h[3] ^ q[3]};
        if (w->cand_table[i] && seen_before(s, x, w->cand_table[i])) continue;
        PREFETCH(s->ids + w->cand[i]);
        hits_push(out, qi, (int64_t)w->cand[i], d);
    }
    hits_finish(out, first_hit, s->ids, &s->dead, 1, radius);
}

INLINE void mih_body(const Segment *s, Work *w, const uint64_t *queries, size_t nq,
                     uint32_t radius, Hits *out) {
    for (size_t i = 0; i < nq && !out->failed; i++)
        mih_query(s, w, queries + i * WORDS, radius, (int64_t)i, out);
}

static void mih_plain(const Segment *s, Work *w, const uint64_t *queries, size_t nq,
                      uint32_t radius, Hits *out) {
    mih_body(s, w, queries, nq, radius, out);
}

/* ---- brute force ------------------------------------------------------------------------ */

INLINE void scan_body(const uint64_t *hashes, size_t rows, const uint64_t *queries, size_t nq,
                      uint32_t radius, Hits *out) {
    if (nq == 1) { /* one query: no blocks to reuse, and the hits come in row order */
        for (size_t r = 0; r < rows; r++) {
            uint32_t d = distance(hashes + r * WORDS, queries);
            if (d <= radius) hits_push(out, 0, (int64_t)r, d);
        }
        return;
    }
    for (size_t lo = 0; lo < rows; lo += SCAN_BLOCK_ROWS) {
        size_t hi = lo + SCAN_BLOCK_ROWS < rows ? lo + SCAN_BLOCK_ROWS : rows;
        for (size_t qi = 0; qi < nq; qi++) {
            const uint64_t *q = queries + qi * WORDS;
            for (size_t r = lo; r < hi; r++) {
                uint32_t d = distance(hashes + r * WORDS, q);
                if (d <= radius) hits_push(out, (int64_t)qi, (int64_t)r, d);
            }
        }
        if (out->failed) return;
    }
}

static void scan_plain(const uint64_t *hashes, size_t rows, const uint64_t *queries, size_t nq,
                       uint32_t radius, Hits *out) {
    scan_body(hashes, rows, queries, nq, radius, out);
}

#ifdef DISPATCH_POPCNT
__attribute__((target("popcnt"))) static void mih_popcnt(const Segment *s, Work *w,
                                                         const uint64_t *queries, size_t nq,
                                                         uint32_t radius, Hits *out) {
    mih_body(s, w, queries, nq, radius, out);
}

__attribute__((target("popcnt"))) static void scan_popcnt(const uint64_t *hashes, size_t rows,
                                                          const uint64_t *queries, size_t nq,
                                                          uint32_t radius, Hits *out) {
    scan_body(hashes, rows, queries, nq, radius, out);
}
#endif

typedef void (*MihFn)(const Segment *, Work *, const uint64_t *, size_t, uint32_t, Hits *);
typedef void (*ScanFn)(const uint64_t *, size_t, const uint64_t *, size_t, uint32_t, Hits *);
static MihFn mih_impl = mih_plain;
static ScanFn scan_impl = scan_plain;

/* ---- argument handling ------------------------------------------------------------------ */

typedef struct {
    Py_buffer views[9];
    int held;
} Views;

static void views_release(Views *v) {
    for (int i = 0; i < v->held; i++) PyBuffer_Release(&v->views[i]);
    v->held = 0;
}

/* A contiguous buffer of ``obj`` whose items are ``itemsize`` bytes (0: any). */
static Py_buffer *views_get(Views *v, PyObject *obj, Py_ssize_t itemsize, const char *name) {
    Py_buffer *b = &v->views[v->held];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return NULL;
    v->held++;
    if (itemsize && b->itemsize != itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd-byte items, got %zd", name, itemsize,
                     b->itemsize);
        return NULL;
    }
    return b;
}

/* ``ids`` (one int64 per row) and ``dead`` (sorted int64 rows) of a search over ``rows`` rows. */
static int rows_args(Views *v, PyObject *o_ids, PyObject *o_dead, size_t rows, const int64_t **ids,
                     Dead *dead) {
    Py_buffer *b_ids = views_get(v, o_ids, 8, "ids");
    Py_buffer *b_dead = b_ids ? views_get(v, o_dead, 8, "dead") : NULL;
    if (!b_dead) return -1;
    if ((size_t)b_ids->len / 8 != rows) {
        PyErr_Format(PyExc_ValueError, "ids: expected %zu, one per row, got %zd", rows,
                     b_ids->len / 8);
        return -1;
    }
    *ids = b_ids->buf;
    *dead = (Dead){b_dead->buf, (size_t)b_dead->len / 8};
    return 0;
}

static int radius_arg(long radius, uint32_t *out) {
    if (radius < 0) {
        PyErr_SetString(PyExc_ValueError, "radius must be at least 0");
        return -1;
    }
    *out = radius > 256 ? 256 : (uint32_t)radius;
    return 0;
}

static PyObject *py_mih_search(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *o_hashes, *o_ids, *o_dead, *o_offsets, *o_perm, *o_tables, *o_masks, *o_queries;
    long radius_in;
    uint32_t radius;
    if (!PyArg_ParseTuple(args, "OOOOOOOOl", &o_hashes, &o_ids, &o_dead, &o_offsets, &o_perm,
                          &o_tables, &o_masks, &o_queries, &radius_in))
        return NULL;
    if (radius_arg(radius_in, &radius) < 0) return NULL;
    Views v = {.held = 0};
    Py_buffer *hashes = views_get(&v, o_hashes, 8, "hashes");
    Py_buffer *offsets = hashes ? views_get(&v, o_offsets, 0, "offsets") : NULL;
    Py_buffer *perm = offsets ? views_get(&v, o_perm, 4, "perm") : NULL;
    Py_buffer *tables = perm ? views_get(&v, o_tables, 8, "tables") : NULL;
    Py_buffer *masks = tables ? views_get(&v, o_masks, 8, "masks") : NULL;
    Py_buffer *queries = masks ? views_get(&v, o_queries, 8, "queries") : NULL;
    if (!queries) goto fail;
    if (offsets->itemsize != 4 && offsets->itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "offsets must be int32 or int64");
        goto fail;
    }
    size_t rows = (size_t)hashes->len / HASH_BYTES;
    const int64_t *ids;
    Dead dead;
    if (rows_args(&v, o_ids, o_dead, rows, &ids, &dead) < 0) goto fail;
    size_t slots = (size_t)(offsets->len / offsets->itemsize);
    size_t nmasks = (size_t)masks->len / 8;
    Py_ssize_t nt = tables->len / (8 * TABLE_FIELDS);
    if (hashes->len % HASH_BYTES || queries->len % HASH_BYTES ||
        tables->len % (8 * TABLE_FIELDS) || nt > 255) {
        PyErr_SetString(PyExc_ValueError, "hashes, queries or tables have a partial row");
        goto fail;
    }
    Table layout[255];
    const int64_t *raw = tables->buf;
    size_t probes = 0;
    for (Py_ssize_t t = 0; t < nt; t++) {
        const int64_t *f = raw + t * TABLE_FIELDS;
        Table *tb = &layout[t];
        int ok = f[1] >= 1 && f[1] <= 32 && f[0] >= 0 && f[0] + f[1] <= 256 && f[2] >= 0 &&
                 (size_t)(f[2] + ((int64_t)1 << f[1])) < slots && f[3] >= -1 && f[3] <= 256 &&
                 f[4] >= 0 && f[4] <= f[5] && (size_t)f[5] <= nmasks;
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "table %zd does not fit the offsets or masks", t);
            goto fail;
        }
        *tb = (Table){(int)f[0], (int)f[1], (int)f[3], f[2], f[4], f[5]};
        probes += (size_t)(f[5] - f[4]);
    }
    Segment s = {hashes->buf, ids,      dead,     offsets->buf, offsets->itemsize == 8,
                 perm->buf,   layout,   (int)nt,  masks->buf,   probes};
    size_t nq = (size_t)queries->len / HASH_BYTES;
    Hits out = {0};
    Work w = {0};
    w.cand_cap = 4096;
    w.addr = malloc((probes + 1) * sizeof(int64_t));
    w.addr_table = malloc(probes + 1);
    w.buckets = malloc((probes + 1) * sizeof(Bucket));
    w.cand = malloc(w.cand_cap * sizeof(uint32_t));
    w.cand_table = malloc(w.cand_cap);
    if (!w.addr || !w.addr_table || !w.buckets || !w.cand || !w.cand_table) {
        out.failed = 1;
    } else if (rows) {
        Py_BEGIN_ALLOW_THREADS;
        mih_impl(&s, &w, queries->buf, nq, radius, &out);
        Py_END_ALLOW_THREADS;
    }
    free(w.addr);
    free(w.addr_table);
    free(w.buckets);
    free(w.cand);
    free(w.cand_table);
    views_release(&v);
    return hits_result(&out);
fail:
    views_release(&v);
    return NULL;
}

static PyObject *py_scan(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *o_hashes, *o_ids, *o_dead, *o_queries;
    long radius_in;
    uint32_t radius;
    if (!PyArg_ParseTuple(args, "OOOOl", &o_hashes, &o_ids, &o_dead, &o_queries, &radius_in))
        return NULL;
    if (radius_arg(radius_in, &radius) < 0) return NULL;
    Views v = {.held = 0};
    Py_buffer *hashes = views_get(&v, o_hashes, 8, "hashes");
    Py_buffer *queries = hashes ? views_get(&v, o_queries, 8, "queries") : NULL;
    if (!queries) goto fail;
    if (hashes->len % HASH_BYTES || queries->len % HASH_BYTES) {
        PyErr_SetString(PyExc_ValueError, "hashes or queries have a partial row");
        goto fail;
    }
    size_t rows = (size_t)hashes->len / HASH_BYTES, nq = (size_t)queries->len / HASH_BYTES;
    const int64_t *ids;
    Dead dead;
    if (rows_args(&v, o_ids, o_dead, rows, &ids, &dead) < 0) goto fail;
    Hits out = {0};
    Py_BEGIN_ALLOW_THREADS;
    scan_impl(hashes->buf, rows, queries->buf, nq, radius, &out);
    if (!out.failed) hits_finish(&out, 0, ids, &dead, nq == 1, radius);
    Py_END_ALLOW_THREADS;
    views_release(&v);
    return hits_result(&out);
fail:
    views_release(&v);
    return NULL;
}

static PyObject *py_check(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *o_offsets, *o_perm;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "OOn", &o_offsets, &o_perm, &rows)) return NULL;
    Views v = {.held = 0};
    Py_buffer *offsets = views_get(&v, o_offsets, 0, "offsets");
    Py_buffer *perm = offsets ? views_get(&v, o_perm, 4, "perm") : NULL;
    if (!perm) goto fail;
    if (offsets->itemsize != 4 && offsets->itemsize != 8) {
        PyErr_SetString(PyExc_ValueError, "offsets must be int32 or int64");
        goto fail;
    }
    Segment s = {.offsets = offsets->buf, .wide = offsets->itemsize == 8};
    Py_ssize_t slots = offsets->len / offsets->itemsize, nperm = perm->len / 4;
    const char *problem = NULL;
    Py_BEGIN_ALLOW_THREADS;
    int64_t prev = 0;
    for (Py_ssize_t i = 0; i < slots && !problem; i++) {
        int64_t o = offset_at(&s, i);
        if (o < prev || o > nperm) problem = "bucket offsets are not increasing within the perm";
        prev = o;
    }
    if (!problem && slots && prev != nperm) problem = "bucket offsets do not cover the perm";
    const uint32_t *p = perm->buf;
    for (Py_ssize_t i = 0; i < nperm && !problem; i++)
        if ((Py_ssize_t)p[i] >= rows) problem = "a bucket names a row beyond the hashes";
    Py_END_ALLOW_THREADS;
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        goto fail;
    }
    views_release(&v);
    Py_RETURN_NONE;
fail:
    views_release(&v);
    return NULL;
}

/* A list of ``cls(id, distance, None)`` for hits [lo, hi), ``cls`` being a tuple subclass without
 * instance attributes (a named tuple). Built as CPython builds a tuple subclass's instances
 * (``tp_alloc`` on the subclass, then the items), without a Python call per hit: near a family
 * of near-duplicates a query returns hundreds of hits, and making them in Python cost more than
 * finding them. */
static PyObject *py_index_hits(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *o_cls, *o_ids, *o_dist;
    Py_ssize_t lo, hi;
    if (!PyArg_ParseTuple(args, "OOOnn", &o_cls, &o_ids, &o_dist, &lo, &hi)) return NULL;
    if (!PyType_Check(o_cls) || !PyType_IsSubtype((PyTypeObject *)o_cls, &PyTuple_Type) ||
        ((PyTypeObject *)o_cls)->tp_basicsize != PyTuple_Type.tp_basicsize) {
        PyErr_SetString(PyExc_TypeError, "cls must be a tuple subclass without instance attributes");
        return NULL;
    }
    PyTypeObject *cls = (PyTypeObject *)o_cls;
    Views v = {.held = 0};
    Py_buffer *ids = views_get(&v, o_ids, 8, "ids");
    Py_buffer *dist = ids ? views_get(&v, o_dist, 4, "distances") : NULL;
    if (!dist) goto fail;
    Py_ssize_t n = ids->len / 8;
    if (dist->len / 4 != n || lo < 0 || lo > hi || hi > n) {
        PyErr_SetString(PyExc_ValueError, "ids and distances differ in length, or bad bounds");
        goto fail;
    }
    PyObject *out = PyList_New(hi - lo);
    if (!out) goto fail;
    const int64_t *ip = ids->buf;
    const int32_t *dp = dist->buf;
    for (Py_ssize_t i = lo; i < hi; i++) {
        PyObject *hit = cls->tp_alloc(cls, 3);
        if (!hit) {
            Py_DECREF(out);
            goto fail;
        }
        PyList_SET_ITEM(out, i - lo, hit); /* the list owns it from here, filled or not */
        PyObject *id = PyLong_FromLongLong(ip[i]);
        PyObject *d = PyLong_FromLong(dp[i]);
        if (!id || !d) {
            Py_XDECREF(id);
            Py_XDECREF(d);
            Py_DECREF(out);
            goto fail;
        }
        PyTuple_SET_ITEM(hit, 0, id);
        PyTuple_SET_ITEM(hit, 1, d);
        Py_INCREF(Py_None);
        PyTuple_SET_ITEM(hit, 2, Py_None);
        /* Two ints and None cannot be part of a cycle: untrack it, as CPython untracks such
         * tuples itself, so the collector does not walk hundreds of hits per query. */
        PyObject_GC_UnTrack(hit);
    }
    views_release(&v);
    return out;
fail:
    views_release(&v);
    return NULL;
}

static PyObject *py_popcnt(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(args)) {
    return PyBool_FromLong(mih_impl != mih_plain);
}

static PyMethodDef methods[] = {
    {"mih_search", py_mih_search, METH_VARARGS,
     "(query, id, distance) bytes of every live row within radius, by multi-index hashing."},
    {"scan", py_scan, METH_VARARGS,
     "(query, id, distance) bytes of every live row within radius, by brute force."},
    {"check", py_check, METH_VARARGS, "Raise ValueError unless offsets and perm are coherent."},
    {"index_hits", py_index_hits, METH_VARARGS,
     "[cls(id, distance, None) for hits lo..hi], cls a tuple subclass (IndexHit)."},
    {"uses_popcnt", py_popcnt, METH_NOARGS, "Whether the POPCNT instruction is in use."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hamming_kernel", "Compiled probes and scans of the Hamming index.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hamming_kernel(void) {
#ifdef DISPATCH_POPCNT
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt")) {
        mih_impl = mih_popcnt;
        scan_impl = scan_popcnt;
    }
#endif
    return PyModule_Create(&module);
}
