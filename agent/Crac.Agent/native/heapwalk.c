// libcrac-heapwalk: a minimal CLR profiler that the agent attaches to its own process (through
// the runtime's diagnostics IPC) so that, after a restore, it can visit every object on the GC
// heap: ICorProfilerInfo15::EnumerateGCHeapObjects suspends the runtime, so writing into an
// object from the callback races with nothing.
//
// What it does with the heap: every System.Random+XoshiroImpl (the state of Random.Shared's
// per-thread generators and of every `new Random()`) gets fresh state from getrandom(2), so two
// processes restored from one image stop producing the same "random" numbers. It also counts the
// objects of other types the agent names (seeded generators it must leave alone, and reports).
//
// It subscribes to no events (its event mask stays 0) and asks to be loaded as a notification
// profiler, so an APM profiler loaded at start-up or attached later keeps the main slot.
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

typedef int32_t HRESULT;
typedef uint32_t ULONG;
typedef int32_t BOOL;
typedef uintptr_t ObjectID;

typedef struct
{
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;

#define S_OK ((HRESULT)0)
#define E_NOINTERFACE ((HRESULT)0x80004002)
#define E_FAIL ((HRESULT)0x80004005)
#define E_INVALIDARG ((HRESULT)0x80070057)
#define CLASS_E_CLASSNOTAVAILABLE ((HRESULT)0x80040111)

static const GUID IID_IUnknown = {0x00000000, 0x0000, 0x0000, {0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
static const GUID IID_IClassFactory = {0x00000001, 0x0000, 0x0000, {0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}};
static const GUID IID_ICorProfilerCallback = {0x176FBED1, 0xA55C, 0x4796, {0x98, 0xCA, 0xA9, 0xDA, 0x0E, 0xF8, 0x83, 0xE7}};
static const GUID IID_ICorProfilerCallback2 = {0x8A8CC829, 0xCCF2, 0x49FE, {0xBB, 0xAE, 0x0F, 0x02, 0x22, 0x28, 0x07, 0x1A}};
static const GUID IID_ICorProfilerCallback3 = {0x4FD2ED52, 0x7731, 0x4B8D, {0x94, 0x69, 0x03, 0xD2, 0xCC, 0x30, 0x86, 0xC5}};
static const GUID IID_ICorProfilerCallback4 = {0x7B63B2E3, 0x107D, 0x4D48, {0xB2, 0xF6, 0xF6, 0x1E, 0x22, 0x94, 0x70, 0xD2}};
static const GUID IID_ICorProfilerCallback5 = {0x8DFBA405, 0x8C9F, 0x45F8, {0xBF, 0xFA, 0x83, 0xB1, 0x4C, 0xEF, 0x78, 0xB5}};
static const GUID IID_ICorProfilerCallback6 = {0xFC13DF4B, 0x4448, 0x4F4F, {0x95, 0x0C, 0xBA, 0x8D, 0x19, 0xD0, 0x0C, 0x36}};
static const GUID IID_ICorProfilerCallback7 = {0xF76A2DBA, 0x1D52, 0x4539, {0x86, 0x6C, 0x2A, 0xA5, 0x18, 0xF9, 0xEF, 0xC3}};
static const GUID IID_ICorProfilerCallback8 = {0x5BED9B15, 0xC079, 0x4D47, {0xBF, 0xE2, 0x21, 0x5A, 0x14, 0x0C, 0x07, 0xE0}};
static const GUID IID_ICorProfilerCallback9 = {0x27583EC3, 0xC8F5, 0x482F, {0x80, 0x52, 0x19, 0x4B, 0x8C, 0xE4, 0x70, 0x5A}};
static const GUID IID_ICorProfilerCallback10 = {0xCEC5B60E, 0xC69C, 0x495F, {0x87, 0xF6, 0x84, 0xD2, 0x8E, 0xE1, 0x6F, 0xFB}};
static const GUID IID_ICorProfilerCallback11 = {0x42350846, 0xAAED, 0x47F7, {0xB1, 0x28, 0xFD, 0x0C, 0x98, 0x88, 0x1C, 0xDE}};
static const GUID IID_ICorProfilerInfo15 = {0xB446462D, 0xBD22, 0x41DD, {0x87, 0x2D, 0xDC, 0x71, 0x4C, 0x49, 0xEB, 0x56}};

// The CLSID the agent names in its attach request ({9C5D2A51-7E1B-4F0C-8D3A-6B2E4C1F0A97}).
static const GUID CLSID_CracHeapWalk = {0x9C5D2A51, 0x7E1B, 0x4F0C, {0x8D, 0x3A, 0x6B, 0x2E, 0x4C, 0x1F, 0x0A, 0x97}};

// Vtable slots (IUnknown's three, then each ICorProfilerCallbackN's methods in corprof.idl order).
enum
{
    SLOT_QUERY_INTERFACE = 0,
    SLOT_ADD_REF = 1,
    SLOT_RELEASE = 2,
    SLOT_INITIALIZE_FOR_ATTACH = 80,   // ICorProfilerCallback3, after 69 + 8 callbacks
    SLOT_LOAD_AS_NOTIFICATION_ONLY = 97, // ICorProfilerCallback11, the last one
    CALLBACK_SLOTS = 98,
    // ICorProfilerInfo15::EnumerateGCHeapObjects: IUnknown's 3, then the 111 methods of
    // ICorProfilerInfo..ICorProfilerInfo14.
    INFO_SLOT_ENUMERATE_GC_HEAP_OBJECTS = 114,
    INFO_SLOT_RELEASE = 2,
};

typedef BOOL (*object_callback)(ObjectID object, void *state);
typedef HRESULT (*enumerate_fn)(void *self, object_callback callback, void *state);
typedef HRESULT (*query_interface_fn)(void *self, const GUID *iid, void **result);
typedef ULONG (*release_fn)(void *self);

typedef struct
{
    void **vtable;
} com_object;

static void *callback_vtable[CALLBACK_SLOTS];
static com_object profiler = {callback_vtable};
static void *factory_vtable[5];
static com_object factory = {factory_vtable};

// ICorProfilerInfo15 of this runtime, once attached; NULL before, or on a runtime without it.
static void *volatile info15;
static volatile HRESULT attach_result = E_FAIL;

static int same_guid(const GUID *a, const GUID *b) { return memcmp(a, b, sizeof(GUID)) == 0; }

static HRESULT ok(void) { return S_OK; }
static ULONG add_ref(void *self) { (void)self; return 1; }
static ULONG release(void *self) { (void)self; return 1; }

static HRESULT profiler_query_interface(void *self, const GUID *iid, void **result)
{
    if (same_guid(iid, &IID_IUnknown) || same_guid(iid, &IID_ICorProfilerCallback) || same_guid(iid, &IID_ICorProfilerCallback2)
        || same_guid(iid, &IID_ICorProfilerCallback3) || same_guid(iid, &IID_ICorProfilerCallback4) || same_guid(iid, &IID_ICorProfilerCallback5)
        || same_guid(iid, &IID_ICorProfilerCallback6) || same_guid(iid, &IID_ICorProfilerCallback7) || same_guid(iid, &IID_ICorProfilerCallback8)
        || same_guid(iid, &IID_ICorProfilerCallback9) || same_guid(iid, &IID_ICorProfilerCallback10) || same_guid(iid, &IID_ICorProfilerCallback11))
    {
        *result = self;
        return S_OK;
    }

    *result = NULL;
    return E_NOINTERFACE;
}

static HRESULT initialize_for_attach(void *self, void *info_unknown, void *client_data, ULONG client_data_size)
{
    (void)self;
    (void)client_data;
    (void)client_data_size;
    void *info = NULL;
    com_object *unknown = info_unknown;
    HRESULT hr = ((query_interface_fn)unknown->vtable[SLOT_QUERY_INTERFACE])(info_unknown, &IID_ICorProfilerInfo15, &info);
    attach_result = hr;
    if (hr < 0 || info == NULL)
    {
        // A runtime older than .NET 10 cannot enumerate its heap for us: refuse the attach.
        return hr < 0 ? hr : E_FAIL;
    }

    info15 = info;
    return S_OK;
}

static HRESULT load_as_notification_only(void *self, BOOL *notification_only)
{
    (void)self;
    *notification_only = 1;
    return S_OK;
}

static HRESULT factory_query_interface(void *self, const GUID *iid, void **result)
{
    if (same_guid(iid, &IID_IUnknown) || same_guid(iid, &IID_IClassFactory))
    {
        *result = self;
        return S_OK;
    }

    *result = NULL;
    return E_NOINTERFACE;
}

static HRESULT factory_create_instance(void *self, void *outer, const GUID *iid, void **result)
{
    (void)self;
    if (outer != NULL)
    {
        *result = NULL;
        return E_INVALIDARG;
    }

    return profiler_query_interface(&profiler, iid, result);
}

static HRESULT factory_lock_server(void *self, BOOL lock)
{
    (void)self;
    (void)lock;
    return S_OK;
}

__attribute__((constructor)) static void build_vtables(void)
{
    for (int slot = 0; slot < CALLBACK_SLOTS; slot++)
    {
        // Every callback this profiler does not use: the runtime calls none of them with an
        // event mask of 0, and those it might call take their arguments in registers, which a
        // function that ignores them leaves alone.
        callback_vtable[slot] = (void *)ok;
    }

    callback_vtable[SLOT_QUERY_INTERFACE] = (void *)profiler_query_interface;
    callback_vtable[SLOT_ADD_REF] = (void *)add_ref;
    callback_vtable[SLOT_RELEASE] = (void *)release;
    callback_vtable[SLOT_INITIALIZE_FOR_ATTACH] = (void *)initialize_for_attach;
    callback_vtable[SLOT_LOAD_AS_NOTIFICATION_ONLY] = (void *)load_as_notification_only;

    factory_vtable[0] = (void *)factory_query_interface;
    factory_vtable[1] = (void *)add_ref;
    factory_vtable[2] = (void *)release;
    factory_vtable[3] = (void *)factory_create_instance;
    factory_vtable[4] = (void *)factory_lock_server;
}

__attribute__((visibility("default"))) HRESULT DllGetClassObject(const GUID *clsid, const GUID *iid, void **result)
{
    if (!same_guid(clsid, &CLSID_CracHeapWalk))
    {
        *result = NULL;
        return CLASS_E_CLASSNOTAVAILABLE;
    }

    return factory_query_interface(&factory, iid, result);
}

enum { MAX_COUNTED_TYPES = 8 };

// What one walk looks for, filled by the agent: the method table of the generator state to
// reseed (and the size of that state right after the method table pointer), and other types to count.
typedef struct
{
    void *reseed_type;
    uint32_t reseed_bytes;
    uint32_t counted_type_count;
    void *counted_types[MAX_COUNTED_TYPES];
    int64_t counts[MAX_COUNTED_TYPES];
    int64_t reseeded;
    int64_t objects;
    int64_t failures;
} walk_request;

static BOOL visit(ObjectID object, void *state)
{
    walk_request *request = state;
    // An object starts with its method table pointer, which for a non-array type is its ClassID.
    void *type = *(void **)object;
    request->objects++;
    if (type == request->reseed_type)
    {
        uint8_t *fields = (uint8_t *)object + sizeof(void *);
        uint8_t fresh[64];
        uint32_t size = request->reseed_bytes;
        int attempts = 0;
        for (;;)
        {
            ssize_t read = getrandom(fresh, size, 0);
            int nonzero = 0;
            for (uint32_t i = 0; read == (ssize_t)size && i < size; i++)
            {
                nonzero |= fresh[i];
            }

            // Xoshiro's state must not be all zero; a short read is retried.
            if (read == (ssize_t)size && nonzero)
            {
                memcpy(fields, fresh, size);
                request->reseeded++;
                break;
            }

            if (++attempts == 4)
            {
                request->failures++;
                break;
            }
        }
    }

    for (uint32_t i = 0; i < request->counted_type_count; i++)
    {
        if (type == request->counted_types[i])
        {
            request->counts[i]++;
        }
    }

    return 1;
}

// Called by the agent (P/Invoke): 1 when the profiler is attached and can enumerate the heap.
__attribute__((visibility("default"))) int32_t crac_heapwalk_attached(void) { return info15 != NULL; }

// Called by the agent (P/Invoke): walks the heap with the runtime suspended. Returns the HRESULT
// of EnumerateGCHeapObjects, or E_FAIL when the profiler is not attached.
__attribute__((visibility("default"))) HRESULT crac_heapwalk_run(walk_request *request)
{
    void *info = info15;
    if (info == NULL)
    {
        return attach_result < 0 ? attach_result : E_FAIL;
    }

    if (request->reseed_bytes > 64 || request->counted_type_count > MAX_COUNTED_TYPES)
    {
        return E_INVALIDARG;
    }

    com_object *object = info;
    return ((enumerate_fn)object->vtable[INFO_SLOT_ENUMERATE_GC_HEAP_OBJECTS])(info, visit, request);
}
