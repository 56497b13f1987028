/* Correctness and speed check for indexer/chain/_sha256.h (not part of the package).
 *
 *   gcc -O2 -Wall -Wextra -std=c99 -o /tmp/sha256_check bench/sha256_check.c
 *   /tmp/sha256_check          # checks, then benchmark; exit status 1 on any mismatch
 *   /tmp/sha256_check --hex    # digests of fixed inputs, for comparing with hashlib
 *   /tmp/sha256_check --no-bench   # the checks only (tests/unit/test_native_walk.py)
 *
 * Both transforms are checked against a deliberately naive reference written from FIPS
 * 180-4 below, so a bug shared by the two fast paths cannot hide. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../indexer/chain/_sha256.h"

/* ---- naive reference ------------------------------------------------------------- */

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void ref_sha256(const unsigned char *msg, size_t len, unsigned char out[32])
{
    static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    uint32_t H[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t padded = (len + 9 + 63) / 64 * 64, blk, i;
    unsigned char *m = calloc(padded, 1);
    uint64_t bits = (uint64_t)len * 8;

    if (!m) { perror("calloc"); exit(2); }
    if (len) memcpy(m, msg, len);
    m[len] = 0x80;
    for (i = 0; i < 8; i++) m[padded - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (blk = 0; blk < padded; blk += 64) {
        uint32_t W[64], v[8];
        size_t t;
        for (t = 0; t < 16; t++)
            W[t] = (uint32_t)m[blk + 4 * t] << 24 | (uint32_t)m[blk + 4 * t + 1] << 16 |
                   (uint32_t)m[blk + 4 * t + 2] << 8 | m[blk + 4 * t + 3];
        for (t = 16; t < 64; t++) {
            uint32_t s0 = rotr(W[t - 15], 7) ^ rotr(W[t - 15], 18) ^ (W[t - 15] >> 3);
            uint32_t s1 = rotr(W[t - 2], 17) ^ rotr(W[t - 2], 19) ^ (W[t - 2] >> 10);
            W[t] = W[t - 16] + s0 + W[t - 7] + s1;
        }
        memcpy(v, H, sizeof v);
        for (t = 0; t < 64; t++) {
            uint32_t S1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
            uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
            uint32_t t1 = v[7] + S1 + ch + K[t] + W[t];
            uint32_t S0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
            uint32_t mj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            memmove(v + 1, v, 7 * sizeof v[0]);
            v[4] += t1;
            v[0] = t1 + S0 + mj;
        }
        for (t = 0; t < 8; t++) H[t] += v[t];
    }
    for (i = 0; i < 32; i++) out[i] = (unsigned char)(H[i / 4] >> (24 - 8 * (i % 4)));
    free(m);
}

static void ref_hash256(const unsigned char *msg, size_t len, unsigned char out[32])
{
    unsigned char t[32];
    ref_sha256(msg, len, t);
    ref_sha256(t, 32, out);
}

/* ---- helpers --------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void fill_random(unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(rng() >> 56);
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    size_t i;
    for (i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static int failures = 0;

static void expect(const char *what, size_t len, const unsigned char got[32], const unsigned char want[32])
{
    if (memcmp(got, want, 32) != 0) {
        char g[65], w[65];
        hex(got, 32, g);
        hex(want, 32, w);
        if (failures < 20)
            fprintf(stderr, "FAIL [%s] %s len=%zu\n  got  %s\n  want %s\n", lb_sha256_impl(),
                    what, len, g, w);
        failures++;
    }
}

static void sha256_oneshot(const unsigned char *d, size_t n, unsigned char out[32])
{
    lb_sha256 c;
    lb_sha256_init(&c);
    lb_sha256_write(&c, d, n);
    lb_sha256_finalize(&c, out);
}

/* Same message, fed in random-size pieces (including empty ones) to exercise every
 * buffer-fill state of lb_sha256_write. */
static void sha256_pieces(const unsigned char *d, size_t n, unsigned char out[32])
{
    lb_sha256 c;
    size_t off = 0;
    lb_sha256_init(&c);
    while (off < n) {
        size_t k = (size_t)(rng() % 150);
        if (k > n - off) k = n - off;
        lb_sha256_write(&c, d + off, k);
        off += k;
    }
    lb_sha256_write(&c, NULL, 0);
    lb_sha256_finalize(&c, out);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- checks ---------------------------------------------------------------------- */

static int unhex(const char *s, unsigned char *out)
{
    size_t i, n = strlen(s) / 2;
    for (i = 0; i < n; i++) {
        unsigned int b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1) return -1;
        out[i] = (unsigned char)b;
    }
    return 0;
}

static void check_nist(void)
{
    static const struct { const char *msg; const char *digest; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    unsigned char want[32], got[32];
    size_t i;
    unsigned char *a;

    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].msg);
        unhex(v[i].digest, want);
        sha256_oneshot((const unsigned char *)v[i].msg, n, got);
        expect("nist", n, got, want);
        sha256_pieces((const unsigned char *)v[i].msg, n, got);
        expect("nist pieces", n, got, want);
        ref_sha256((const unsigned char *)v[i].msg, n, got);
        expect("nist (reference itself)", n, got, want);
    }
    a = malloc(1000000);
    if (!a) { perror("malloc"); exit(2); }
    memset(a, 'a', 1000000);
    unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want);
    sha256_oneshot(a, 1000000, got);
    expect("nist million a", 1000000, got, want);
    sha256_pieces(a, 1000000, got);
    expect("nist million a pieces", 1000000, got, want);
    free(a);
}

static void check_message(const unsigned char *m, size_t n)
{
    unsigned char want[32], got[32], want1[32];

    ref_sha256(m, n, want1);
    ref_sha256(want1, 32, want);
    lb_hash256(got, m, n);
    expect("hash256", n, got, want);
    sha256_oneshot(m, n, got);
    expect("sha256", n, got, want1);
    sha256_pieces(m, n, got);
    expect("sha256 pieces", n, got, want1);
}

static void check_random(void)
{
    unsigned char m[300 + 64] = {0}, got[32], want[32];
    size_t n;
    int i;

    for (n = 0; n <= 200; n++) {
        fill_random(m, n);
        check_message(m, n);
    }
    for (i = 0; i < 10000; i++) {
        n = (size_t)(rng() % 301);
        fill_random(m, n + 64);
        check_message(m, n);
        /* Odd offsets too: the node input is rarely 16-byte aligned in practice. */
        lb_hash256_64(got, m + n % 17);
        ref_hash256(m + n % 17, 64, want);
        expect("hash256_64", 64, got, want);
    }
}

/* ---- benchmark ------------------------------------------------------------------- */

static volatile unsigned char sink;

static void bench(void)
{
    size_t n = 1 << 20, iters = 0;
    unsigned char *m = malloc(n), node[64], out[32];
    double t0, t;

    if (!m) { perror("malloc"); exit(2); }
    fill_random(m, n);
    t0 = now();
    do {
        lb_hash256(out, m, n);
        m[iters % n] ^= out[0]; /* keep every call's result alive */
        iters++;
    } while ((t = now() - t0) < 0.5);
    printf("  %-8s hash256 of 1 MiB: %7.1f MB/s", lb_sha256_impl(), (double)(n * iters) / t / 1e6);

    fill_random(node, 64);
    iters = 0;
    t0 = now();
    do {
        int j;
        /* Chained, as in a merkle level, so calls cannot overlap or be dropped. */
        for (j = 0; j < 1000; j++) {
            lb_hash256_64(out, node);
            memcpy(node + (j & 1) * 32, out, 32);
        }
        iters += 1000;
    } while ((t = now() - t0) < 0.5);
    sink = node[0];
    printf("   hash256_64: %6.1f ns/call\n", t / (double)iters * 1e9);
    free(m);
}

/* ---- hex mode for the hashlib cross-check ------------------------------------------ */

static void print_hex_digests(void)
{
    static const size_t lens[] = {0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 65536, 1000003};
    unsigned char *m = malloc(1000003), out[32], node[64];
    char h[65];
    size_t i;
    int impl;

    if (!m) { perror("malloc"); exit(2); }
    for (i = 0; i < 1000003; i++) m[i] = (unsigned char)(i % 251);
    for (i = 0; i < 64; i++) node[i] = (unsigned char)i;
    /* Format: <impl> <sha256|hash256|hash256_64> <len> <hex>; input is bytes(i % 251). */
    for (impl = 0; impl < 2; impl++) {
        lb_sha256_force_portable(impl == 0);
        for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            sha256_oneshot(m, lens[i], out);
            hex(out, 32, h);
            printf("%s sha256 %zu %s\n", lb_sha256_impl(), lens[i], h);
            lb_hash256(out, m, lens[i]);
            hex(out, 32, h);
            printf("%s hash256 %zu %s\n", lb_sha256_impl(), lens[i], h);
        }
        lb_hash256_64(out, node);
        hex(out, 32, h);
        printf("%s hash256_64 64 %s\n", lb_sha256_impl(), h);
    }
    free(m);
}

int main(int argc, char **argv)
{
    int have_shani, pass;

    lb_sha256_setup();
    have_shani = strcmp(lb_sha256_impl(), "sha-ni") == 0;
    if (argc > 1 && strcmp(argv[1], "--hex") == 0) {
        print_hex_digests();
        return 0;
    }
    printf("active after setup: %s\n", lb_sha256_impl());
    if (!have_shani) printf("(no SHA-NI on this CPU/build: checking the portable path only)\n");

    for (pass = 0; pass < (have_shani ? 2 : 1); pass++) {
        lb_sha256_force_portable(pass == 0);
        check_nist();
        check_random();
        printf("checks %-8s: %s\n", lb_sha256_impl(), failures ? "FAILED" : "ok");
    }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }

    if (argc > 1 && strcmp(argv[1], "--no-bench") == 0)
        return 0;
    printf("benchmark:\n");
    for (pass = 0; pass < (have_shani ? 2 : 1); pass++) {
        lb_sha256_force_portable(pass == 0);
        bench();
    }
    lb_sha256_setup();
    return 0;
}
