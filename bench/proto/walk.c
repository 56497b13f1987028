/* Prototype of a compiled hot path for lockedbtc's backfill workers: the block outline walk
 * (transaction and witness offsets, input outpoints) plus every txid and the merkle root,
 * which together cost ~20 ms per mainnet-size block in Python. Measured by bench/proto/run.py;
 * not part of the package. */
#include <stdint.h>
#include <string.h>
#include <openssl/sha.h>

static int compact(const uint8_t *b, size_t n, size_t *p, uint64_t *v) {
    if (*p >= n) return -1;
    uint8_t f = b[*p];
    if (f < 0xfd) { *v = f; *p += 1; return 0; }
    size_t w = f == 0xfd ? 2 : f == 0xfe ? 4 : 8;
    if (*p + 1 + w > n) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < w; i++) x |= (uint64_t)b[*p + 1 + i] << (8 * i);
    *v = x; *p += 1 + w;
    return 0;
}

static void dsha(const uint8_t *a, size_t al, const uint8_t *b, size_t bl,
                 const uint8_t *c, size_t cl, uint8_t out[32]) {
    SHA256_CTX ctx; uint8_t h[32];
    SHA256_Init(&ctx); SHA256_Update(&ctx, a, al);
    if (bl) SHA256_Update(&ctx, b, bl);
    if (cl) SHA256_Update(&ctx, c, cl);
    SHA256_Final(h, &ctx); SHA256(h, 32, out);
}

/* Returns the transaction count, or -1 on malformed input. Fills tx_starts[0..ntx],
 * wit_starts[0..ntx-1], outpoints (36 bytes per input, up to max_in) and the merkle root
 * (internal byte order). txids is scratch space of 32*max_tx bytes. */
long walk(const uint8_t *b, size_t n, uint32_t *tx_starts, uint32_t *wit_starts,
          uint8_t *outpoints, size_t max_in, uint8_t *txids, size_t max_tx,
          uint8_t root[32], size_t *n_in) {
    size_t p = 80; uint64_t ntx, k;
    if (n < 81 || compact(b, n, &p, &ntx) || ntx == 0 || ntx > max_tx) return -1;
    *n_in = 0;
    for (uint64_t t = 0; t < ntx; t++) {
        size_t s = p; tx_starts[t] = (uint32_t)p;
        if (p + 6 > n) return -1;
        p += 4;
        int seg = b[p] == 0 && b[p + 1] != 0;
        if (seg) { if (b[p + 1] != 1) return -1; p += 2; }
        size_t body = p;
        uint64_t nin, nout;
        if (compact(b, n, &p, &nin)) return -1;
        for (uint64_t i = 0; i < nin; i++) {
            if (p + 36 > n || *n_in >= max_in) return -1;
            memcpy(outpoints + 36 * (*n_in)++, b + p, 36); p += 36;
            if (compact(b, n, &p, &k) || p + k + 4 > n) return -1;
            p += k + 4;
        }
        if (compact(b, n, &p, &nout)) return -1;
        for (uint64_t o = 0; o < nout; o++) {
            p += 8;
            if (compact(b, n, &p, &k) || p + k > n) return -1;
            p += k;
        }
        wit_starts[t] = (uint32_t)p;
        size_t wit = p;
        if (seg) for (uint64_t i = 0; i < nin; i++) {
            uint64_t items;
            if (compact(b, n, &p, &items)) return -1;
            for (uint64_t j = 0; j < items; j++) {
                if (compact(b, n, &p, &k) || p + k > n) return -1;
                p += k;
            }
        }
        if (p + 4 > n) return -1;
        p += 4;
        if (seg) dsha(b + s, 4, b + body, wit - body, b + p - 4, 4, txids + 32 * t);
        else dsha(b + s, p - s, 0, 0, 0, 0, txids + 32 * t);
    }
    if (p != n) return -1;
    tx_starts[ntx] = (uint32_t)p;
    size_t m = ntx;  /* merkle root in place over the txids */
    while (m > 1) {
        if (m & 1) { memcpy(txids + 32 * m, txids + 32 * (m - 1), 32); m++; }
        for (size_t i = 0; i < m / 2; i++) dsha(txids + 64 * i, 64, 0, 0, 0, 0, txids + 32 * i);
        m /= 2;
    }
    memcpy(root, txids, 32);
    return (long)ntx;
}
