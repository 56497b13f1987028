/* SHA-256 for the block walker: txids (hash256 of every serialized transaction) and merkle
 * nodes (hash256 of 64 bytes). Header-only so the extension needs no extra build step or
 * library; everything is static.
 *
 * Two transforms, picked once at run time by lb_sha256_setup():
 *   - portable C, used everywhere (other CPUs, other OSes, old x86);
 *   - x86-64 SHA-NI, compiled through a target attribute so the extension builds without
 *     -msha and still runs on CPUs lacking the extension (it is only called after CPUID
 *     says it is there).
 * The SHA-NI code follows the structure of Intel's reference code by Sean Gulley as adapted
 * in Bitcoin Core's src/crypto/sha256_x86_shani.cpp (Copyright (c) 2018-2022 The Bitcoin
 * Core developers, MIT license); it is written anew here for C99.
 *
 * Requires gcc or clang (attributes; <cpuid.h> on x86-64). */
#ifndef LB_SHA256_H
#define LB_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LB_SHA256_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* Unused static functions must not warn in a file that includes this header and calls
 * only part of the API. */
#define LB__API static __attribute__((unused))

typedef struct {
    uint32_t s[8];
    unsigned char buf[64];
    uint64_t bytes;
} lb_sha256;

static const uint32_t lb__sha256_iv[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

/* Aligned so the SHA-NI code can add four constants at a time straight from memory. */
static const uint32_t lb__sha256_k[64] __attribute__((aligned(16))) = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u,
    0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u,
    0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u,
    0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

/* K[i] + W[i] for the padding block of a 64-byte message (0x80, zeros, bit length 512).
 * That block is the same for every merkle node, so its message schedule is precomputed
 * and the second compression of a node skips it entirely. */
static const uint32_t lb__sha256_pad64_wk[64] __attribute__((aligned(16))) = {
    0xc28a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u,
    0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf374u,
    0x649b69c1u, 0xf0fe4786u, 0x0fe1edc6u, 0x240cf254u,
    0x4fe9346fu, 0x6cc984beu, 0x61b9411eu, 0x16f988fau,
    0xf2c65152u, 0xa88e5a6du, 0xb019fc65u, 0xb9d99ec7u,
    0x9a1231c3u, 0xe70eeaa0u, 0xfdb1232bu, 0xc7353eb0u,
    0x3069bad5u, 0xcb976d5fu, 0x5a0f118fu, 0xdc1eeefdu,
    0x0a35b689u, 0xde0b7a04u, 0x58f4ca9du, 0xe15d5b16u,
    0x007f3e86u, 0x37088980u, 0xa507ea32u, 0x6fab9537u,
    0x17406110u, 0x0d8cd6f1u, 0xcdaa3b6du, 0xc0bbbe37u,
    0x83613bdau, 0xdb48a363u, 0x0b02e931u, 0x6fd15ca7u,
    0x521afacau, 0x31338431u, 0x6ed41a95u, 0x6d437890u,
    0xc39c91f2u, 0x9eccabbdu, 0xb5c9a0e6u, 0x532fb63cu,
    0xd2c741c6u, 0x07237ea3u, 0xa4954b68u, 0x4c191d76u,
};

/* ------------------------------------------------------------------------------------ */
/* Portable transform                                                                   */

/* Byte-wise big-endian access: alignment- and aliasing-safe, and gcc/clang turn it into a
 * single load plus bswap anyway. The casts keep the shifts out of signed int. */
static inline uint32_t lb__be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
           (uint32_t)p[3];
}

static inline void lb__put_be32(unsigned char *p, uint32_t x)
{
    p[0] = (unsigned char)(x >> 24);
    p[1] = (unsigned char)(x >> 16);
    p[2] = (unsigned char)(x >> 8);
    p[3] = (unsigned char)x;
}

#define LB__ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
/* Ch and Maj in their 3-operation forms. */
#define LB__CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define LB__MAJ(x, y, z) (((x) & (y)) | ((z) & ((x) | (y))))
#define LB__BS0(x) (LB__ROTR(x, 2) ^ LB__ROTR(x, 13) ^ LB__ROTR(x, 22))
#define LB__BS1(x) (LB__ROTR(x, 6) ^ LB__ROTR(x, 11) ^ LB__ROTR(x, 25))
#define LB__SS0(x) (LB__ROTR(x, 7) ^ LB__ROTR(x, 18) ^ ((x) >> 3))
#define LB__SS1(x) (LB__ROTR(x, 17) ^ LB__ROTR(x, 19) ^ ((x) >> 10))

/* One round without moving the eight working variables: callers rename them instead
 * (each round shifts the argument list by one), which removes 7 register moves per round. */
#define LB__ROUND(a, b, c, d, e, f, g, h, k)                                                \
    do {                                                                                    \
        uint32_t t1_ = (h) + LB__BS1(e) + LB__CH(e, f, g) + (k);                            \
        uint32_t t2_ = LB__BS0(a) + LB__MAJ(a, b, c);                                       \
        (d) += t1_;                                                                         \
        (h) = t1_ + t2_;                                                                    \
    } while (0)

/* Eight rounds starting at round i; after eight renames the variables are back in place. */
#define LB__R8(K, i, W0, W1, W2, W3, W4, W5, W6, W7)                                        \
    LB__ROUND(a, b, c, d, e, f, g, h, K[(i) + 0] + (W0));                                  \
    LB__ROUND(h, a, b, c, d, e, f, g, K[(i) + 1] + (W1));                                  \
    LB__ROUND(g, h, a, b, c, d, e, f, K[(i) + 2] + (W2));                                  \
    LB__ROUND(f, g, h, a, b, c, d, e, K[(i) + 3] + (W3));                                  \
    LB__ROUND(e, f, g, h, a, b, c, d, K[(i) + 4] + (W4));                                  \
    LB__ROUND(d, e, f, g, h, a, b, c, K[(i) + 5] + (W5));                                  \
    LB__ROUND(c, d, e, f, g, h, a, b, K[(i) + 6] + (W6));                                  \
    LB__ROUND(b, c, d, e, f, g, h, a, K[(i) + 7] + (W7))

/* Message schedule in a 16-word ring: w[j] += s1(w[j-2]) + w[j-7] + s0(w[j-15]), mod 16. */
#define LB__W(wj, wm2, wm7, wm15) ((wj) += LB__SS1(wm2) + (wm7) + LB__SS0(wm15))

#define LB__R16_SCHED(i)                                                                    \
    LB__R8(lb__sha256_k, (i), LB__W(w0, w14, w9, w1), LB__W(w1, w15, w10, w2),             \
           LB__W(w2, w0, w11, w3), LB__W(w3, w1, w12, w4), LB__W(w4, w2, w13, w5),          \
           LB__W(w5, w3, w14, w6), LB__W(w6, w4, w15, w7), LB__W(w7, w5, w0, w8));          \
    LB__R8(lb__sha256_k, (i) + 8, LB__W(w8, w6, w1, w9), LB__W(w9, w7, w2, w10),           \
           LB__W(w10, w8, w3, w11), LB__W(w11, w9, w4, w12), LB__W(w12, w10, w5, w13),      \
           LB__W(w13, w11, w6, w14), LB__W(w14, w12, w7, w15), LB__W(w15, w13, w8, w0))

static void lb__transform_portable(uint32_t s[8], const unsigned char *p, size_t nblocks)
{
    /* Working variables are locals, not s[]: stores through s could alias p for the
     * compiler and would force reloads every round. */
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];

    while (nblocks--) {
        uint32_t w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15;

        LB__R8(lb__sha256_k, 0, w0 = lb__be32(p), w1 = lb__be32(p + 4), w2 = lb__be32(p + 8),
               w3 = lb__be32(p + 12), w4 = lb__be32(p + 16), w5 = lb__be32(p + 20),
               w6 = lb__be32(p + 24), w7 = lb__be32(p + 28));
        LB__R8(lb__sha256_k, 8, w8 = lb__be32(p + 32), w9 = lb__be32(p + 36),
               w10 = lb__be32(p + 40), w11 = lb__be32(p + 44), w12 = lb__be32(p + 48),
               w13 = lb__be32(p + 52), w14 = lb__be32(p + 56), w15 = lb__be32(p + 60));
        LB__R16_SCHED(16);
        LB__R16_SCHED(32);
        LB__R16_SCHED(48);

        a = s[0] += a; b = s[1] += b; c = s[2] += c; d = s[3] += d;
        e = s[4] += e; f = s[5] += f; g = s[6] += g; h = s[7] += h;
        p += 64;
    }
}

/* Compression of the fixed padding block of a 64-byte message (see lb__sha256_pad64_wk). */
static void lb__pad64_portable(uint32_t s[8])
{
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    LB__R8(lb__sha256_pad64_wk, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 16, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 24, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 32, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 40, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 48, 0, 0, 0, 0, 0, 0, 0, 0);
    LB__R8(lb__sha256_pad64_wk, 56, 0, 0, 0, 0, 0, 0, 0, 0);
    s[0] += a; s[1] += b; s[2] += c; s[3] += d;
    s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

/* Padding of a 32-byte message (the outer hash of hash256) into block[32..63], so the
 * outer hash is exactly one compression. */
static void lb__pad32(unsigned char block[64])
{
    block[32] = 0x80;
    memset(block + 33, 0, 29);
    block[62] = 0x01; /* bit length 256 */
    block[63] = 0x00;
}

static void lb__hash256_64_portable(unsigned char out[32], const unsigned char in[64])
{
    uint32_t s[8];
    unsigned char block[64];
    int i;

    memcpy(s, lb__sha256_iv, sizeof s);
    lb__transform_portable(s, in, 1);
    lb__pad64_portable(s);
    for (i = 0; i < 8; i++) lb__put_be32(block + 4 * i, s[i]);
    lb__pad32(block);
    memcpy(s, lb__sha256_iv, sizeof s);
    lb__transform_portable(s, block, 1);
    for (i = 0; i < 8; i++) lb__put_be32(out + 4 * i, s[i]);
}

#undef LB__R16_SCHED
#undef LB__W
#undef LB__R8
#undef LB__ROUND
#undef LB__SS1
#undef LB__SS0
#undef LB__BS1
#undef LB__BS0
#undef LB__MAJ
#undef LB__CH
#undef LB__ROTR

/* ------------------------------------------------------------------------------------ */
/* SHA-NI transform (x86-64)                                                            */

#ifdef LB_SHA256_HAVE_SHANI

#define LB__SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* sha256rnds2 does two rounds on the lower two words of msg (W+K already added); the upper
 * pair is moved down for the second instruction. */
#define LB__QR(s0, s1, msg)                                                                 \
    do {                                                                                    \
        __m128i m_ = (msg);                                                                 \
        (s1) = _mm_sha256rnds2_epu32((s1), (s0), m_);                                       \
        (s0) = _mm_sha256rnds2_epu32((s0), (s1), _mm_shuffle_epi32(m_, 0x0e));              \
    } while (0)

/* Four aligned uint32 constants. */
#define LB__LOAD4(p) _mm_load_si128((const __m128i *)(const void *)(p))

#define LB__QRK(s0, s1, m, i)                                                               \
    LB__QR(s0, s1, _mm_add_epi32((m), LB__LOAD4(lb__sha256_k + 4 * (i))))

/* Next four schedule words into m2: msg1 has already folded s0(w[j-15]) into it, add the
 * w[j-7] words straddling m0/m1, then msg2 adds s1(w[j-2]). */
#define LB__MSG_C(m0, m1, m2)                                                               \
    ((m2) = _mm_sha256msg2_epu32(_mm_add_epi32((m2), _mm_alignr_epi8((m1), (m0), 4)), (m1)))
#define LB__MSG_A(m0, m1) ((m0) = _mm_sha256msg1_epu32((m0), (m1)))
#define LB__MSG_B(m0, m1, m2) (LB__MSG_C(m0, m1, m2), LB__MSG_A(m0, m1))

/* All 64 rounds on state (s0, s1) for message words already loaded into m0..m3, with the
 * schedule for the next quad computed while the current one is in the rounds unit. */
#define LB__SHANI_ROUNDS(s0, s1, m0, m1, m2, m3)                                            \
    do {                                                                                    \
        LB__QRK(s0, s1, m0, 0);                                                             \
        LB__QRK(s0, s1, m1, 1);  LB__MSG_A(m0, m1);                                         \
        LB__QRK(s0, s1, m2, 2);  LB__MSG_A(m1, m2);                                         \
        LB__QRK(s0, s1, m3, 3);  LB__MSG_B(m2, m3, m0);                                     \
        LB__QRK(s0, s1, m0, 4);  LB__MSG_B(m3, m0, m1);                                     \
        LB__QRK(s0, s1, m1, 5);  LB__MSG_B(m0, m1, m2);                                     \
        LB__QRK(s0, s1, m2, 6);  LB__MSG_B(m1, m2, m3);                                     \
        LB__QRK(s0, s1, m3, 7);  LB__MSG_B(m2, m3, m0);                                     \
        LB__QRK(s0, s1, m0, 8);  LB__MSG_B(m3, m0, m1);                                     \
        LB__QRK(s0, s1, m1, 9);  LB__MSG_B(m0, m1, m2);                                     \
        LB__QRK(s0, s1, m2, 10); LB__MSG_B(m1, m2, m3);                                     \
        LB__QRK(s0, s1, m3, 11); LB__MSG_B(m2, m3, m0);                                     \
        LB__QRK(s0, s1, m0, 12); LB__MSG_B(m3, m0, m1);                                     \
        LB__QRK(s0, s1, m1, 13); LB__MSG_C(m0, m1, m2);                                     \
        LB__QRK(s0, s1, m2, 14); LB__MSG_C(m1, m2, m3);                                     \
        LB__QRK(s0, s1, m3, 15);                                                            \
    } while (0)

/* The instructions want the state as ABEF / CDGH (high to low lane) rather than the
 * natural ABCD / EFGH. */
#define LB__SHUFFLE(s0, s1)                                                                 \
    do {                                                                                    \
        __m128i t1_ = _mm_shuffle_epi32((s0), 0xB1);                                        \
        __m128i t2_ = _mm_shuffle_epi32((s1), 0x1B);                                        \
        (s0) = _mm_alignr_epi8(t1_, t2_, 0x08);                                             \
        (s1) = _mm_blend_epi16(t2_, t1_, 0xF0);                                             \
    } while (0)

#define LB__UNSHUFFLE(s0, s1)                                                               \
    do {                                                                                    \
        __m128i t1_ = _mm_shuffle_epi32((s0), 0x1B);                                        \
        __m128i t2_ = _mm_shuffle_epi32((s1), 0xB1);                                        \
        (s0) = _mm_blend_epi16(t1_, t2_, 0xF0);                                             \
        (s1) = _mm_alignr_epi8(t2_, t1_, 0x08);                                             \
    } while (0)

/* Big-endian words <-> lanes. */
#define LB__BSWAP_MASK _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)
#define LB__LOAD_BE(p)                                                                      \
    _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p)), LB__BSWAP_MASK)

/* The IV, already in ABEF / CDGH order. */
#define LB__IV_ABEF                                                                         \
    _mm_set_epi32((int)0x6a09e667u, (int)0xbb67ae85u, (int)0x510e527fu, (int)0x9b05688cu)
#define LB__IV_CDGH                                                                         \
    _mm_set_epi32((int)0x3c6ef372u, (int)0xa54ff53au, (int)0x1f83d9abu, (int)0x5be0cd19u)

LB__SHANI_TARGET
static void lb__transform_shani(uint32_t s[8], const unsigned char *p, size_t nblocks)
{
    __m128i s0, s1, so0, so1, m0, m1, m2, m3;

    s0 = _mm_loadu_si128((const __m128i *)(const void *)s);
    s1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 4));
    LB__SHUFFLE(s0, s1);

    while (nblocks--) {
        so0 = s0;
        so1 = s1;
        m0 = LB__LOAD_BE(p);
        m1 = LB__LOAD_BE(p + 16);
        m2 = LB__LOAD_BE(p + 32);
        m3 = LB__LOAD_BE(p + 48);
        LB__SHANI_ROUNDS(s0, s1, m0, m1, m2, m3);
        s0 = _mm_add_epi32(s0, so0);
        s1 = _mm_add_epi32(s1, so1);
        p += 64;
    }

    LB__UNSHUFFLE(s0, s1);
    _mm_storeu_si128((__m128i *)(void *)s, s0);
    _mm_storeu_si128((__m128i *)(void *)(s + 4), s1);
}

/* One merkle node entirely in registers: the padding block runs on precomputed W+K, and
 * the first digest feeds the second hash as message words without touching memory. */
LB__SHANI_TARGET
static void lb__hash256_64_shani(unsigned char out[32], const unsigned char in[64])
{
    __m128i s0, s1, so0, so1, m0, m1, m2, m3;
    int i;

    /* Block 1: the 64 input bytes. */
    s0 = LB__IV_ABEF;
    s1 = LB__IV_CDGH;
    m0 = LB__LOAD_BE(in);
    m1 = LB__LOAD_BE(in + 16);
    m2 = LB__LOAD_BE(in + 32);
    m3 = LB__LOAD_BE(in + 48);
    LB__SHANI_ROUNDS(s0, s1, m0, m1, m2, m3);
    s0 = _mm_add_epi32(s0, LB__IV_ABEF);
    s1 = _mm_add_epi32(s1, LB__IV_CDGH);

    /* Block 2: constant padding, schedule precomputed. */
    so0 = s0;
    so1 = s1;
    for (i = 0; i < 16; i++)
        LB__QR(s0, s1, LB__LOAD4(lb__sha256_pad64_wk + 4 * i));
    s0 = _mm_add_epi32(s0, so0);
    s1 = _mm_add_epi32(s1, so1);

    /* Second SHA256 over the 32-byte digest: its words are the state words as is. */
    LB__UNSHUFFLE(s0, s1);
    m0 = s0;
    m1 = s1;
    m2 = _mm_set_epi32(0, 0, 0, (int)0x80000000u);
    m3 = _mm_set_epi32(256, 0, 0, 0);
    s0 = LB__IV_ABEF;
    s1 = LB__IV_CDGH;
    LB__SHANI_ROUNDS(s0, s1, m0, m1, m2, m3);
    s0 = _mm_add_epi32(s0, LB__IV_ABEF);
    s1 = _mm_add_epi32(s1, LB__IV_CDGH);

    LB__UNSHUFFLE(s0, s1);
    _mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(s0, LB__BSWAP_MASK));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(s1, LB__BSWAP_MASK));
}

#undef LB__IV_CDGH
#undef LB__IV_ABEF
#undef LB__LOAD_BE
#undef LB__BSWAP_MASK
#undef LB__UNSHUFFLE
#undef LB__SHUFFLE
#undef LB__SHANI_ROUNDS
#undef LB__MSG_B
#undef LB__MSG_A
#undef LB__MSG_C
#undef LB__QRK
#undef LB__LOAD4
#undef LB__QR
#undef LB__SHANI_TARGET

static int lb__cpu_has_shani(void)
{
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    if (!(ecx & (1u << 19)) || !(ecx & (1u << 9))) return 0; /* SSE4.1, SSSE3 */
    /* __get_cpuid_count checks the maximum leaf, so leaf 7 on old CPUs reads as absent. */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ebx >> 29) & 1; /* SHA */
}

#endif /* LB_SHA256_HAVE_SHANI */

/* ------------------------------------------------------------------------------------ */
/* Dispatch and public API                                                              */

/* The only mutable global. Defaults to portable so that a caller that never runs setup is
 * slow but correct. Set during module init (under the GIL, before any hashing thread),
 * afterwards only read. */
static void (*lb__transform)(uint32_t *, const unsigned char *, size_t) = lb__transform_portable;

LB__API void lb_sha256_setup(void)
{
#ifdef LB_SHA256_HAVE_SHANI
    lb__transform = lb__cpu_has_shani() ? lb__transform_shani : lb__transform_portable;
#else
    lb__transform = lb__transform_portable;
#endif
}

/* For tests and benchmarks comparing both paths: on = 1 pins the portable transform,
 * on = 0 goes back to what the CPU supports (same as lb_sha256_setup). lb_sha256_setup
 * also undoes a previous force. */
LB__API void lb_sha256_force_portable(int on)
{
    if (on)
        lb__transform = lb__transform_portable;
    else
        lb_sha256_setup();
}

LB__API const char *lb_sha256_impl(void)
{
#ifdef LB_SHA256_HAVE_SHANI
    if (lb__transform == lb__transform_shani) return "sha-ni";
#endif
    return "portable";
}

LB__API void lb_sha256_init(lb_sha256 *c)
{
    memcpy(c->s, lb__sha256_iv, sizeof c->s);
    c->bytes = 0;
}

LB__API void lb_sha256_write(lb_sha256 *c, const unsigned char *data, size_t len)
{
    size_t fill = (size_t)(c->bytes % 64);

    /* Also keeps memcpy away from a NULL data pointer, which is undefined even for 0. */
    if (len == 0) return;
    c->bytes += len;
    if (fill) {
        size_t take = 64 - fill < len ? 64 - fill : len;
        memcpy(c->buf + fill, data, take);
        data += take;
        len -= take;
        if (fill + take < 64) return;
        lb__transform(c->s, c->buf, 1);
    }
    /* Whole blocks straight from the caller's memory, all in one call, so the SHA-NI state
     * stays in registers across a whole transaction. */
    if (len >= 64) {
        size_t n = len / 64;
        lb__transform(c->s, data, n);
        data += 64 * n;
        len -= 64 * n;
    }
    if (len) memcpy(c->buf, data, len);
}

LB__API void lb_sha256_finalize(lb_sha256 *c, unsigned char out[32])
{
    size_t fill = (size_t)(c->bytes % 64);
    uint64_t bits = c->bytes << 3;
    int i;

    c->buf[fill++] = 0x80;
    if (fill > 56) {
        memset(c->buf + fill, 0, 64 - fill);
        lb__transform(c->s, c->buf, 1);
        fill = 0;
    }
    memset(c->buf + fill, 0, 56 - fill);
    lb__put_be32(c->buf + 56, (uint32_t)(bits >> 32));
    lb__put_be32(c->buf + 60, (uint32_t)bits);
    lb__transform(c->s, c->buf, 1);
    for (i = 0; i < 8; i++) lb__put_be32(out + 4 * i, c->s[i]);
}

LB__API void lb_hash256(unsigned char out[32], const unsigned char *data, size_t len)
{
    lb_sha256 c;
    unsigned char block[64];
    int i;

    lb_sha256_init(&c);
    lb_sha256_write(&c, data, len);
    lb_sha256_finalize(&c, block);
    lb__pad32(block);
    memcpy(c.s, lb__sha256_iv, sizeof c.s);
    lb__transform(c.s, block, 1);
    for (i = 0; i < 8; i++) lb__put_be32(out + 4 * i, c.s[i]);
}

LB__API void lb_hash256_64(unsigned char out[32], const unsigned char in[64])
{
#ifdef LB_SHA256_HAVE_SHANI
    if (lb__transform == lb__transform_shani) {
        lb__hash256_64_shani(out, in);
        return;
    }
#endif
    lb__hash256_64_portable(out, in);
}

#undef LB__API

#endif /* LB_SHA256_H */
