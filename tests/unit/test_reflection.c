/*
 * test_reflection.c - the symbol index of server reflection
 * (src/control/reflection_index.c): the embedded descriptor set, a set
 * made here with nested scopes and a diamond of imports, and broken sets.
 */
#include "common/mfs.h"
#include "control/descriptor.pb-c.h"
#include "control/reflection_i.h"

#include <setjmp.h>
#include <cmocka.h>


/* protobuf-c's structs take char *; these tests only pack them */
#define S(lit) ((char *)(lit))

/* A FileDescriptorSet being written: each file as field 1. */
struct set {
	uint8_t data[8192];
	size_t len;
};

static void put_varint(struct set *s, uint64_t v)
{
	do {
		assert_true(s->len < sizeof(s->data));
		s->data[s->len++] =
			(uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void put_file(struct set *s,
		     const Google__Protobuf__FileDescriptorProto *fp)
{
	size_t n = protobuf_c_message_get_packed_size(&fp->base);

	put_varint(s, 0x0a);
	put_varint(s, n);
	assert_true(s->len + n <= sizeof(s->data));
	protobuf_c_message_pack(&fp->base, s->data + s->len);
	s->len += n;
}

static struct refl_index *build_ok(const uint8_t *data, size_t len)
{
	struct refl_index *ix = NULL;

	assert_int_equal(refl_index_build(data, len, &ix), 0);
	assert_non_null(ix);
	return ix;
}

static void assert_fails(const uint8_t *data, size_t len, int want)
{
	struct refl_index *ix = (struct refl_index *)1;

	assert_int_equal(refl_index_build(data, len, &ix), want);
	assert_null(ix);
}

/* ---- the embedded set --------------------------------------------------- */

static void test_embedded_set(void **state)
{
	static const char *const services[] = {
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"musicfs.v1.MetadataService",
		"musicfs.v1.MusicFS",
	};
	struct refl_index *ix;
	const uint8_t *p;
	size_t i, len, out[8];
	ssize_t api;

	(void)state;
	ix = build_ok(control_descriptor_set, control_descriptor_set_len);
	assert_int_equal(refl_file_count(ix), 3);
	api = refl_find_file(ix, "musicfs.proto");
	assert_true(api >= 0);
	assert_true(refl_find_file(ix, "grpc/reflection/v1alpha/"
				   "reflection.proto") >= 0);
	assert_true(refl_find_file(ix, "grpc/reflection/v1/"
				   "reflection.proto") >= 0);
	assert_int_equal(refl_service_count(ix), MFS_ARRAY_SIZE(services));
	for (i = 0; i < MFS_ARRAY_SIZE(services); i++)
		assert_string_equal(refl_service_name(ix, i), services[i]);
	assert_int_equal(refl_find_symbol(ix, "musicfs.v1.MusicFS.GetStatus"),
			 api);
	assert_int_equal(refl_find_symbol(ix, "musicfs.v1.TASK_STATE_RUNNING"),
			 api);
	assert_int_equal(refl_find_symbol(ix, "musicfs.v1.Nothing"), -ENOENT);
	/* served from the embedded bytes themselves, not a copy */
	for (i = 0; i < refl_file_count(ix); i++) {
		p = refl_file_bytes(ix, i, &len);
		assert_true(p > control_descriptor_set);
		assert_true(p + len <= control_descriptor_set +
					 control_descriptor_set_len);
	}
	assert_int_equal(refl_closure(ix, (size_t)api, out), 1);
	assert_int_equal(out[0], api);
	refl_index_free(ix);
}

/* ---- a set with nested scopes and a diamond of imports ------------------ */

/*
 * a.proto (no package) imports b.proto and c.proto; b.proto (p.sub)
 * imports c.proto; c.proto (p) declares everything else.  The messages
 * are static so that they can point at each other in their initializers.
 */
#define MSG(type) .base = PROTOBUF_C_MESSAGE_INIT(                         \
	&google__protobuf__##type##__descriptor)

static Google__Protobuf__EnumValueDescriptorProto k_a = {
	MSG(enum_value_descriptor_proto), .name = S("K_A") };
static Google__Protobuf__EnumValueDescriptorProto m_on = {
	MSG(enum_value_descriptor_proto), .name = S("M_ON") };
static Google__Protobuf__EnumValueDescriptorProto red = {
	MSG(enum_value_descriptor_proto), .name = S("RED") };
static Google__Protobuf__EnumValueDescriptorProto green = {
	MSG(enum_value_descriptor_proto), .name = S("GREEN") };
static Google__Protobuf__EnumValueDescriptorProto *kind_values[] = { &k_a };
static Google__Protobuf__EnumValueDescriptorProto *mode_values[] = { &m_on };
static Google__Protobuf__EnumValueDescriptorProto *color_values[] = {
	&red, &green };

static Google__Protobuf__EnumDescriptorProto kind = {
	MSG(enum_descriptor_proto), .name = S("Kind"),
	.n_value = 1, .value = kind_values };
static Google__Protobuf__EnumDescriptorProto mode = {
	MSG(enum_descriptor_proto), .name = S("Mode"),
	.n_value = 1, .value = mode_values };
static Google__Protobuf__EnumDescriptorProto color = {
	MSG(enum_descriptor_proto), .name = S("Color"),
	.n_value = 2, .value = color_values };
static Google__Protobuf__EnumDescriptorProto *kind_p[] = { &kind };
static Google__Protobuf__EnumDescriptorProto *mode_p[] = { &mode };
static Google__Protobuf__EnumDescriptorProto *color_p[] = { &color };

static Google__Protobuf__FieldDescriptorProto x = {
	MSG(field_descriptor_proto), .name = S("x") };
static Google__Protobuf__FieldDescriptorProto ext = {
	MSG(field_descriptor_proto), .name = S("ext") };
static Google__Protobuf__FieldDescriptorProto *x_p[] = { &x };
static Google__Protobuf__FieldDescriptorProto *ext_p[] = { &ext };
static Google__Protobuf__OneofDescriptorProto o = {
	MSG(oneof_descriptor_proto), .name = S("o") };
static Google__Protobuf__OneofDescriptorProto *o_p[] = { &o };

static Google__Protobuf__DescriptorProto inner = {
	MSG(descriptor_proto), .name = S("Inner"),
	.n_enum_type = 1, .enum_type = kind_p };
static Google__Protobuf__DescriptorProto *inner_p[] = { &inner };
static Google__Protobuf__DescriptorProto outer = {
	MSG(descriptor_proto), .name = S("Outer"),
	.n_field = 1, .field = x_p,
	.n_oneof_decl = 1, .oneof_decl = o_p,
	.n_nested_type = 1, .nested_type = inner_p,
	.n_enum_type = 1, .enum_type = mode_p };
static Google__Protobuf__DescriptorProto b_msg = {
	MSG(descriptor_proto), .name = S("B") };
static Google__Protobuf__DescriptorProto a_msg = {
	MSG(descriptor_proto), .name = S("A") };
static Google__Protobuf__DescriptorProto *outer_p[] = { &outer };
static Google__Protobuf__DescriptorProto *b_p[] = { &b_msg };
static Google__Protobuf__DescriptorProto *a_p[] = { &a_msg };

static Google__Protobuf__MethodDescriptorProto run = {
	MSG(method_descriptor_proto), .name = S("Run") };
static Google__Protobuf__MethodDescriptorProto *run_p[] = { &run };
static Google__Protobuf__ServiceDescriptorProto svc = {
	MSG(service_descriptor_proto), .name = S("Svc"),
	.n_method = 1, .method = run_p };
static Google__Protobuf__ServiceDescriptorProto *svc_p[] = { &svc };

static char *a_deps[] = { S("b.proto"), S("c.proto") };
static char *b_deps[] = { S("c.proto") };
static Google__Protobuf__FileDescriptorProto file_a = {
	MSG(file_descriptor_proto), .name = S("a.proto"),
	.n_dependency = 2, .dependency = a_deps,
	.n_message_type = 1, .message_type = a_p };
static Google__Protobuf__FileDescriptorProto file_b = {
	MSG(file_descriptor_proto), .name = S("b.proto"), .package = S("p.sub"),
	.n_dependency = 1, .dependency = b_deps,
	.n_message_type = 1, .message_type = b_p };
static Google__Protobuf__FileDescriptorProto file_c = {
	MSG(file_descriptor_proto), .name = S("c.proto"), .package = S("p"),
	.n_message_type = 1, .message_type = outer_p,
	.n_enum_type = 1, .enum_type = color_p,
	.n_service = 1, .service = svc_p,
	.n_extension = 1, .extension = ext_p };

/* In this order: a file comes before the files it imports. */
static void write_diamond(struct set *s)
{
	put_file(s, &file_a);
	put_file(s, &file_b);
	put_file(s, &file_c);
}

static void test_scopes(void **state)
{
	static const char *const in_c[] = {
		"p.Outer", "p.Outer.x", "p.Outer.o", "p.Outer.Inner",
		"p.Outer.Inner.Kind", "p.Outer.Inner.K_A", "p.Outer.Mode",
		"p.Outer.M_ON", "p.Color", "p.RED", "p.GREEN", "p.Svc",
		"p.Svc.Run", "p.ext",
	};
	static const char *const absent[] = {
		"p.Color.RED", "Outer", "p", "p.Outer.Inner.Kind.K_A", "",
		"p.Svc.Run.x", "p.sub", "B", ".p.Outer", "p.Outer.",
	};
	struct set s = { .len = 0 };
	struct refl_index *ix;
	size_t i;

	(void)state;
	write_diamond(&s);
	ix = build_ok(s.data, s.len);
	assert_int_equal(refl_file_count(ix), 3);
	assert_string_equal(refl_file_name(ix, 2), "c.proto");
	for (i = 0; i < MFS_ARRAY_SIZE(in_c); i++)
		assert_int_equal(refl_find_symbol(ix, in_c[i]), 2);
	assert_int_equal(refl_find_symbol(ix, "p.sub.B"), 1);
	assert_int_equal(refl_find_symbol(ix, "A"), 0);
	for (i = 0; i < MFS_ARRAY_SIZE(absent); i++)
		assert_int_equal(refl_find_symbol(ix, absent[i]), -ENOENT);
	assert_int_equal(refl_find_file(ix, "b.proto"), 1);
	assert_int_equal(refl_find_file(ix, "p/b.proto"), -ENOENT);
	assert_int_equal(refl_service_count(ix), 1);
	assert_string_equal(refl_service_name(ix, 0), "p.Svc");
	refl_index_free(ix);
}

static void test_closure(void **state)
{
	struct set s = { .len = 0 };
	struct refl_index *ix;
	size_t out[3];

	(void)state;
	write_diamond(&s);
	ix = build_ok(s.data, s.len);
	/* the file first, then its imports; c.proto once though both
	 * a.proto and b.proto import it */
	assert_int_equal(refl_closure(ix, 0, out), 3);
	assert_int_equal(out[0], 0);
	assert_int_equal(out[1], 1);
	assert_int_equal(out[2], 2);
	assert_int_equal(refl_closure(ix, 1, out), 2);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 2);
	assert_int_equal(refl_closure(ix, 2, out), 1);
	assert_int_equal(out[0], 2);
	refl_index_free(ix);
}

/* ---- sets that are not right -------------------------------------------- */

static void test_other_fields_skipped(void **state)
{
	/* fields 2 to 5, one of each wire type the set may hold */
	static const uint8_t other[] = { 0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4,
					 5, 6, 7, 8, 0x22, 0x02, 0xaa, 0xbb,
					 0x2d, 1, 2, 3, 4 };
	struct set s = { .len = 0 };
	struct refl_index *ix;

	(void)state;
	/* before the files and after them */
	memcpy(s.data, other, sizeof(other));
	s.len = sizeof(other);
	write_diamond(&s);
	memcpy(s.data + s.len, other, sizeof(other));
	s.len += sizeof(other);
	ix = build_ok(s.data, s.len);
	assert_int_equal(refl_file_count(ix), 3);
	assert_int_equal(refl_find_symbol(ix, "p.Svc.Run"), 2);
	refl_index_free(ix);
}

static void test_empty_set(void **state)
{
	struct refl_index *ix;

	(void)state;
	ix = build_ok((const uint8_t *)"", 0);
	assert_int_equal(refl_file_count(ix), 0);
	assert_int_equal(refl_service_count(ix), 0);
	assert_int_equal(refl_find_file(ix, "a.proto"), -ENOENT);
	assert_int_equal(refl_find_symbol(ix, "a"), -ENOENT);
	refl_index_free(ix);
}

static void test_broken_bytes(void **state)
{
	static const uint8_t too_long[] = { 0x0a, 0x05, 0x0a, 0x01 };
	static const uint8_t cut_varint[] = { 0x0a, 0x80 };
	static const uint8_t group[] = { 0x13, 0x14 };
	static const uint8_t endless_varint[] = {
		0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0x01 };
	/* a file that is not a FileDescriptorProto: field 1 with wire type 7 */
	static const uint8_t bad_file[] = { 0x0a, 0x02, 0x0f, 0x00 };
	/* a FileDescriptorProto without a name (only package "p") */
	static const uint8_t nameless[] = { 0x0a, 0x03, 0x12, 0x01, 'p' };

	(void)state;
	assert_fails(too_long, sizeof(too_long), -EBADMSG);
	assert_fails(cut_varint, sizeof(cut_varint), -EBADMSG);
	assert_fails(group, sizeof(group), -EBADMSG);
	assert_fails(endless_varint, sizeof(endless_varint), -EBADMSG);
	assert_fails(bad_file, sizeof(bad_file), -EBADMSG);
	assert_fails(nameless, sizeof(nameless), -EBADMSG);
}

static void test_missing_import_and_nameless_symbol(void **state)
{
	static char *deps[] = { S("nowhere.proto") };
	static Google__Protobuf__DescriptorProto nameless = {
		MSG(descriptor_proto) };
	static Google__Protobuf__DescriptorProto *nameless_p[] = { &nameless };
	Google__Protobuf__FileDescriptorProto f = {
		MSG(file_descriptor_proto), .name = S("f.proto"),
		.n_dependency = 1, .dependency = deps };
	struct set s = { .len = 0 };

	(void)state;
	put_file(&s, &f);
	assert_fails(s.data, s.len, -ENOENT);

	/* the import is gone now, but a message has no name */
	f.n_dependency = 0;
	f.n_message_type = 1;
	f.message_type = nameless_p;
	s.len = 0;
	put_file(&s, &f);
	assert_fails(s.data, s.len, -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_set),
		cmocka_unit_test(test_scopes),
		cmocka_unit_test(test_closure),
		cmocka_unit_test(test_other_fields_skipped),
		cmocka_unit_test(test_empty_set),
		cmocka_unit_test(test_broken_bytes),
		cmocka_unit_test(test_missing_import_and_nameless_symbol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
