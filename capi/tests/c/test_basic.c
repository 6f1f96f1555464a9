/* Single-threaded tests of each semantic row of the klp_shadow C ABI. */
#include <stdalign.h>
#include <string.h>

#include "harness.h"

/* Every test has its own ids: in `all` mode the tests share one table. */
enum {
    ID_ABSENT = 0x1001,
    ID_ZEROED = 0x1101,
    ID_SIZE0 = 0x1201,
    ID_STABLE = 0x1301,
    ID_STABLE_FILL = 0x1302,
    ID_CTOR = 0x1401,
    ID_CTOR_NULL = 0x1402,
    ID_IGNORE = 0x1501,
    ID_FAIL = 0x1601,
    ID_FAIL_GOA = 0x1602,
    ID_DUP = 0x1701,
    ID_OOM = 0x1702,
    ID_FREE = 0x1801,
    ID_FREE_OTHER = 0x1802,
    ID_ALL_A = 0x1901,
    ID_ALL_B = 0x1902,
    ID_ALL_UNUSED = 0x1903,
    ID_RE_OUTER = 0x1a01,
    ID_RE_INNER = 0x1a02,
    ID_RE_FREED = 0x1a03,
    ID_RE_SIBLING = 0x1a04,
};

static int is_aligned(const void *p)
{
    return (uintptr_t)p % alignof(max_align_t) == 0 && (uintptr_t)p % 16 == 0;
}

/* A ctor that fails the test if it is ever called. */
static int ctor_must_not_run(void *obj, void *data, void *ctor_data)
{
    (void)obj, (void)data, (void)ctor_data;
    CHECK(!"this ctor must not run");
    return 0;
}

/* A dtor that fails the test if it is ever called. */
static void dtor_must_not_run(void *obj, void *data)
{
    (void)obj, (void)data;
    CHECK(!"this dtor must not run");
}

void test_get_absent(void)
{
    int parent;
    CHECK(klp_shadow_get(&parent, ID_ABSENT) == NULL);
    CHECK(klp_shadow_get(NULL, ID_ABSENT) == NULL);
    /* freeing what does not exist is a no-op, the dtor does not run */
    klp_shadow_free(&parent, ID_ABSENT, dtor_must_not_run);
    klp_shadow_free_all(ID_ABSENT, dtor_must_not_run);
    CHECK(klp_shadow_get(&parent, ID_ABSENT) == NULL);
}

void test_alloc_zeroed_aligned(void)
{
    static const size_t sizes[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4096, 65536, 1 << 20};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    char parents[N];
    unsigned char *data[N];

    for (int i = 0; i < N; i++) {
        data[i] = klp_shadow_alloc(&parents[i], ID_ZEROED, sizes[i], 0, NULL, NULL);
        CHECK(data[i] != NULL);
        CHECK(is_aligned(data[i]));
        CHECK(all_zero(data[i], sizes[i]));
        CHECK(klp_shadow_get(&parents[i], ID_ZEROED) == data[i]);
        /* the whole block is writable (Valgrind/ASan check the bounds) */
        memset(data[i], 0xa0 + i, sizes[i]);
        for (int j = 0; j < i; j++)
            CHECK(data[j] != data[i]);
    }
    for (int i = 0; i < N; i++) {
        CHECK(klp_shadow_get(&parents[i], ID_ZEROED) == data[i]);
        CHECK(data[i][0] == (unsigned char)(0xa0 + i));
        CHECK(data[i][sizes[i] - 1] == (unsigned char)(0xa0 + i));
    }
    klp_shadow_free_all(ID_ZEROED, NULL);
    for (int i = 0; i < N; i++)
        CHECK(klp_shadow_get(&parents[i], ID_ZEROED) == NULL);
}

static int count_calls(void *obj, void *data, void *ctor_data)
{
    (void)obj, (void)data;
    ++*(int *)ctor_data;
    return 0;
}

void test_size_zero(void)
{
    char parents[2];
    int calls = 0;

    void *a = klp_shadow_alloc(&parents[0], ID_SIZE0, 0, 0, NULL, NULL);
    void *b = klp_shadow_get_or_alloc(&parents[1], ID_SIZE0, 0, 0, count_calls, &calls);
    CHECK(a != NULL && b != NULL);
    CHECK(a != b);
    CHECK(is_aligned(a) && is_aligned(b));
    CHECK(calls == 1);
    CHECK(klp_shadow_get(&parents[0], ID_SIZE0) == a);
    CHECK(klp_shadow_get_or_alloc(&parents[1], ID_SIZE0, 0, 0, count_calls, &calls) == b);
    CHECK(calls == 1);

    /* existence as a flag: set, test, clear */
    klp_shadow_free(&parents[0], ID_SIZE0, NULL);
    CHECK(klp_shadow_get(&parents[0], ID_SIZE0) == NULL);
    CHECK(klp_shadow_get(&parents[1], ID_SIZE0) == b);
    klp_shadow_free(&parents[1], ID_SIZE0, NULL);
    CHECK(klp_shadow_get(&parents[1], ID_SIZE0) == NULL);
}

void test_stable_address(void)
{
    /* One variable, then enough others on the table to make it grow. */
    enum { FILL = 200000 };
    static char fill_parents[FILL];
    int parent;
    unsigned char *data = klp_shadow_alloc(&parent, ID_STABLE, 64, 0, NULL, NULL);
    CHECK(data != NULL);
    for (int i = 0; i < 64; i++)
        data[i] = (unsigned char)i;

    for (int i = 0; i < FILL; i++) {
        long *v = klp_shadow_alloc(&fill_parents[i], ID_STABLE_FILL, sizeof(long), 0, NULL, NULL);
        CHECK(v != NULL);
        *v = i;
        if (i % 10000 == 0)
            CHECK(klp_shadow_get(&parent, ID_STABLE) == data);
    }
    CHECK(klp_shadow_get(&parent, ID_STABLE) == data);
    for (int i = 0; i < 64; i++)
        CHECK(data[i] == (unsigned char)i);
    for (int i = 0; i < FILL; i += 997) {
        long *v = klp_shadow_get(&fill_parents[i], ID_STABLE_FILL);
        CHECK(v != NULL && *v == i);
    }
    klp_shadow_free_all(ID_STABLE_FILL, NULL);
    CHECK(klp_shadow_get(&fill_parents[FILL - 1], ID_STABLE_FILL) == NULL);
    CHECK(klp_shadow_get(&parent, ID_STABLE) == data);
    klp_shadow_free(&parent, ID_STABLE, NULL);
}

/* What a ctor saw, for test_ctor_once. */
struct ctor_record {
    int calls;
    void *obj;
    void *data;
    size_t size;
    int data_was_zero;
    int value;
};

static int record_ctor(void *obj, void *data, void *ctor_data)
{
    struct ctor_record *rec = ctor_data;
    rec->calls++;
    rec->obj = obj;
    rec->data = data;
    rec->data_was_zero = all_zero(data, rec->size);
    /* the data does not exist yet for anyone else */
    CHECK(klp_shadow_get(obj, ID_CTOR) == NULL);
    *(int *)data = rec->value;
    return 0;
}

void test_ctor_once(void)
{
    double parent;
    struct ctor_record rec = {.size = 40, .value = 1234};

    int *data = klp_shadow_alloc(&parent, ID_CTOR, 40, 0, record_ctor, &rec);
    CHECK(data != NULL);
    CHECK(rec.calls == 1);
    CHECK(rec.obj == &parent);
    CHECK(rec.data == data);
    CHECK(rec.data_was_zero);
    CHECK(*data == 1234);
    CHECK(all_zero(data + 1, 40 - sizeof(int)));

    /* never again for an existing variable */
    CHECK(klp_shadow_get(&parent, ID_CTOR) == data);
    CHECK(klp_shadow_get_or_alloc(&parent, ID_CTOR, 40, 0, record_ctor, &rec) == data);
    CHECK(rec.calls == 1);

    /* get_or_alloc creating: runs it once; NULL ctor leaves zeroes */
    struct ctor_record rec2 = {.size = 8, .value = 99};
    char other;
    int *data2 = klp_shadow_get_or_alloc(&other, ID_CTOR, 8, 0, record_ctor, &rec2);
    CHECK(data2 != NULL && data2 != data);
    CHECK(rec2.calls == 1 && rec2.obj == &other && rec2.data == data2 && rec2.data_was_zero);
    CHECK(*data2 == 99);
    long *zeroes = klp_shadow_get_or_alloc(&parent, ID_CTOR_NULL, 3 * sizeof(long), 0, NULL, NULL);
    CHECK(zeroes != NULL && all_zero(zeroes, 3 * sizeof(long)));

    klp_shadow_free_all(ID_CTOR, NULL);
    klp_shadow_free_all(ID_CTOR_NULL, NULL);
}

static int set_int(void *obj, void *data, void *ctor_data)
{
    (void)obj;
    *(int *)data = *(const int *)ctor_data;
    return 0;
}

void test_get_or_alloc_ignores_args(void)
{
    int parent;
    int first = 7, second = 8;

    int *data = klp_shadow_get_or_alloc(&parent, ID_IGNORE, sizeof(int), 0, set_int, &first);
    CHECK(data != NULL && *data == 7);
    /* other size, ctor, ctor_data and flags: the existing data, unchanged */
    CHECK(klp_shadow_get_or_alloc(&parent, ID_IGNORE, 4096, 0x400, set_int, &second) == data);
    CHECK(klp_shadow_get_or_alloc(&parent, ID_IGNORE, 0, 0, ctor_must_not_run, NULL) == data);
    CHECK(klp_shadow_get_or_alloc(&parent, ID_IGNORE, 1, 0, NULL, NULL) == data);
    CHECK(*data == 7);
    klp_shadow_free(&parent, ID_IGNORE, NULL);
}

static int failing_ctor(void *obj, void *data, void *ctor_data)
{
    (void)obj;
    CHECK(data != NULL);
    int *calls = ctor_data;
    ++*calls;
    *(int *)data = -1; /* scribbles, then fails: nothing may be attached */
    return *calls == 1 ? -22 : 5;
}

void test_ctor_failure(void)
{
    int parent;
    int calls = 0;
    int value = 11;

    expect_ctor_failed(&parent, ID_FAIL, -22);
    CHECK(klp_shadow_alloc(&parent, ID_FAIL, sizeof(int), 0, failing_ctor, &calls) == NULL);
    CHECK(calls == 1);
    CHECK(klp_shadow_get(&parent, ID_FAIL) == NULL);

    /* nothing was attached: a later allocation succeeds */
    int *data = klp_shadow_alloc(&parent, ID_FAIL, sizeof(int), 0, set_int, &value);
    CHECK(data != NULL && *data == 11);
    klp_shadow_free(&parent, ID_FAIL, NULL);

    /* the same through get_or_alloc, with a positive error code */
    expect_ctor_failed(&parent, ID_FAIL_GOA, 5);
    CHECK(klp_shadow_get_or_alloc(&parent, ID_FAIL_GOA, sizeof(int), 0, failing_ctor, &calls) == NULL);
    CHECK(calls == 2);
    CHECK(klp_shadow_get(&parent, ID_FAIL_GOA) == NULL);
    data = klp_shadow_get_or_alloc(&parent, ID_FAIL_GOA, sizeof(int), 0, set_int, &value);
    CHECK(data != NULL && *data == 11);
    klp_shadow_free(&parent, ID_FAIL_GOA, NULL);
}

void test_duplicate(void)
{
    int parent;
    int value = 42;

    int *data = klp_shadow_alloc(&parent, ID_DUP, sizeof(int), 0, set_int, &value);
    CHECK(data != NULL && *data == 42);

    expect_duplicate(&parent, ID_DUP);
    CHECK(klp_shadow_alloc(&parent, ID_DUP, sizeof(int), 0, ctor_must_not_run, NULL) == NULL);
    expect_duplicate(&parent, ID_DUP);
    CHECK(klp_shadow_alloc(&parent, ID_DUP, 128, 0, NULL, NULL) == NULL);

    /* the existing variable is untouched */
    CHECK(klp_shadow_get(&parent, ID_DUP) == data);
    CHECK(*data == 42);
    /* get_or_alloc on an existing variable is not a duplicate: no line */
    CHECK(klp_shadow_get_or_alloc(&parent, ID_DUP, sizeof(int), 0, NULL, NULL) == data);
    klp_shadow_free(&parent, ID_DUP, NULL);
}

/*
 * A data block that cannot be allocated: NULL, no stderr line, nothing
 * attached, no ctor run. SIZE_MAX fails before any allocation (no layout
 * fits it); SIZE_MAX / 4 is a real allocation that the allocator refuses.
 * On an existing pair the call is a duplicate, as in the kernel (which
 * looks before it allocates), whichever of the two fails first.
 */
void test_out_of_memory(void)
{
    int parent;
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX / 4};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        CHECK(klp_shadow_alloc(&parent, ID_OOM, size, 0, NULL, NULL) == NULL);
        CHECK(klp_shadow_alloc(&parent, ID_OOM, size, 0, ctor_must_not_run, NULL) == NULL);
        CHECK(klp_shadow_get_or_alloc(&parent, ID_OOM, size, 0, NULL, NULL) == NULL);
        CHECK(klp_shadow_get_or_alloc(&parent, ID_OOM, size, 0, ctor_must_not_run, NULL)
              == NULL);
        CHECK(klp_shadow_get(&parent, ID_OOM) == NULL);
    }

    int *data = klp_shadow_alloc(&parent, ID_OOM, sizeof(int), 0, NULL, NULL);
    CHECK(data != NULL);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        expect_duplicate(&parent, ID_OOM);
        CHECK(klp_shadow_alloc(&parent, ID_OOM, size, 0, NULL, NULL) == NULL);
        expect_duplicate(&parent, ID_OOM);
        CHECK(klp_shadow_alloc(&parent, ID_OOM, size, 0, ctor_must_not_run, NULL) == NULL);
        /* the existing data; the size is ignored */
        CHECK(klp_shadow_get_or_alloc(&parent, ID_OOM, size, 0, NULL, NULL) == data);
    }
    klp_shadow_free(&parent, ID_OOM, NULL);
}

/* A parent that owns a malloc'd buffer the shadow variable points to. */
struct dtor_record {
    int calls;
    void *obj;
    void *data;
    int was_still_visible;
};

static struct dtor_record free_rec;

static int store_buffer(void *obj, void *data, void *ctor_data)
{
    (void)obj, (void)ctor_data;
    char *buffer = malloc(32);
    CHECK(buffer != NULL);
    strcpy(buffer, "owned by the shadow variable");
    *(char **)data = buffer;
    return 0;
}

static void free_buffer(void *obj, void *data)
{
    free_rec.calls++;
    free_rec.obj = obj;
    free_rec.data = data;
    /* the data is valid inside the dtor; the variable is already detached */
    CHECK(strcmp(*(char **)data, "owned by the shadow variable") == 0);
    free_rec.was_still_visible = klp_shadow_get(obj, ID_FREE) != NULL;
    free(*(char **)data);
}

void test_free_dtor(void)
{
    int parents[2];

    void *data = klp_shadow_alloc(&parents[0], ID_FREE, sizeof(char *), 0, store_buffer, NULL);
    CHECK(data != NULL);
    void *sibling = klp_shadow_alloc(&parents[0], ID_FREE_OTHER, 8, 0, NULL, NULL);
    void *neighbour = klp_shadow_alloc(&parents[1], ID_FREE, sizeof(char *), 0, store_buffer, NULL);
    CHECK(sibling != NULL && neighbour != NULL);

    klp_shadow_free(&parents[0], ID_FREE, free_buffer);
    /* synchronous: the dtor has run once when klp_shadow_free returns */
    CHECK(free_rec.calls == 1);
    CHECK(free_rec.obj == &parents[0]);
    CHECK(free_rec.data == data);
    CHECK(!free_rec.was_still_visible);
    CHECK(klp_shadow_get(&parents[0], ID_FREE) == NULL);

    /* only that pair went */
    CHECK(klp_shadow_get(&parents[0], ID_FREE_OTHER) == sibling);
    CHECK(klp_shadow_get(&parents[1], ID_FREE) == neighbour);

    /* freeing again is a no-op */
    klp_shadow_free(&parents[0], ID_FREE, free_buffer);
    CHECK(free_rec.calls == 1);

    /* a NULL dtor frees too */
    klp_shadow_free(&parents[0], ID_FREE_OTHER, NULL);
    CHECK(klp_shadow_get(&parents[0], ID_FREE_OTHER) == NULL);

    klp_shadow_free(&parents[1], ID_FREE, free_buffer);
    CHECK(free_rec.calls == 2 && free_rec.obj == &parents[1] && free_rec.data == neighbour);
}

/* Which parents free_all's dtor saw, and with which data. */
enum { ALL_PARENTS = 6 };
static char all_parents[ALL_PARENTS];
static void *all_data[ALL_PARENTS];
static int all_seen[ALL_PARENTS];

static void mark_seen(void *obj, void *data)
{
    char *parent = obj;
    CHECK(parent >= all_parents && parent < all_parents + ALL_PARENTS);
    ptrdiff_t i = parent - all_parents;
    CHECK(data == all_data[i]);
    CHECK(*(ptrdiff_t *)data == i);
    all_seen[i]++;
}

void test_free_all(void)
{
    void *b_data[2];

    for (int i = 0; i < ALL_PARENTS; i++) {
        all_data[i] = klp_shadow_alloc(&all_parents[i], ID_ALL_A, sizeof(ptrdiff_t), 0, NULL, NULL);
        CHECK(all_data[i] != NULL);
        *(ptrdiff_t *)all_data[i] = i;
    }
    for (int i = 0; i < 2; i++) {
        b_data[i] = klp_shadow_alloc(&all_parents[i], ID_ALL_B, 16, 0, NULL, NULL);
        CHECK(b_data[i] != NULL);
    }

    klp_shadow_free_all(ID_ALL_A, mark_seen);
    for (int i = 0; i < ALL_PARENTS; i++) {
        CHECK(all_seen[i] == 1);
        CHECK(klp_shadow_get(&all_parents[i], ID_ALL_A) == NULL);
    }
    /* the other id is untouched */
    for (int i = 0; i < 2; i++)
        CHECK(klp_shadow_get(&all_parents[i], ID_ALL_B) == b_data[i]);

    /* nothing left with that id, or an id never used: no dtor call */
    klp_shadow_free_all(ID_ALL_A, dtor_must_not_run);
    klp_shadow_free_all(ID_ALL_UNUSED, dtor_must_not_run);

    klp_shadow_free_all(ID_ALL_B, NULL);
    for (int i = 0; i < 2; i++)
        CHECK(klp_shadow_get(&all_parents[i], ID_ALL_B) == NULL);
}

/* ctor that uses the table for another pair, and for its own pair. */
static int reentrant_ctor(void *obj, void *data, void *ctor_data)
{
    (void)ctor_data;
    int *inner = klp_shadow_get_or_alloc(obj, ID_RE_INNER, sizeof(int), 0, NULL, NULL);
    CHECK(inner != NULL);
    *inner = 5;
    *(int **)data = inner;
    /* not visible before the ctor returns */
    CHECK(klp_shadow_get(obj, ID_RE_OUTER) == NULL);
    /* asking for its own pair fails instead of deadlocking */
    CHECK(klp_shadow_get_or_alloc(obj, ID_RE_OUTER, 8, 0, NULL, NULL) == NULL);
    CHECK(klp_shadow_alloc(obj, ID_RE_OUTER, 8, 0, NULL, NULL) == NULL);
    return 0;
}

static void reentrant_dtor(void *obj, void *data)
{
    (void)data;
    /* a dtor may free other variables, even of the same parent */
    klp_shadow_free(obj, ID_RE_SIBLING, NULL);
    CHECK(klp_shadow_get(obj, ID_RE_SIBLING) == NULL);
    /* and allocate */
    CHECK(klp_shadow_alloc(obj, ID_RE_FREED, 4, 0, NULL, NULL) != NULL);
}

void test_reentrant(void)
{
    int parent;
    int **outer = klp_shadow_alloc(&parent, ID_RE_OUTER, sizeof(int *), 0, reentrant_ctor, NULL);
    CHECK(outer != NULL);
    CHECK(*outer == klp_shadow_get(&parent, ID_RE_INNER));
    CHECK(**outer == 5);

    CHECK(klp_shadow_alloc(&parent, ID_RE_SIBLING, 4, 0, NULL, NULL) != NULL);
    klp_shadow_free(&parent, ID_RE_OUTER, reentrant_dtor);
    CHECK(klp_shadow_get(&parent, ID_RE_OUTER) == NULL);
    CHECK(klp_shadow_get(&parent, ID_RE_SIBLING) == NULL);
    CHECK(klp_shadow_get(&parent, ID_RE_FREED) != NULL);
    klp_shadow_free(&parent, ID_RE_INNER, NULL);
    klp_shadow_free(&parent, ID_RE_FREED, NULL);
}
