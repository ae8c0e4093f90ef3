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

typedef Google__Protobuf__FileDescriptorProto file_proto;
typedef Google__Protobuf__DescriptorProto message_proto;
typedef Google__Protobuf__EnumDescriptorProto enum_proto;
typedef Google__Protobuf__EnumValueDescriptorProto value_proto;
typedef Google__Protobuf__FieldDescriptorProto field_proto;
typedef Google__Protobuf__OneofDescriptorProto oneof_proto;
typedef Google__Protobuf__ServiceDescriptorProto service_proto;
typedef Google__Protobuf__MethodDescriptorProto method_proto;

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
		s->data[s->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void put_file(struct set *s, const file_proto *fp)
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
 * imports c.proto; c.proto (p) declares everything else.  The files are
 * written in that order: a file comes before the files it imports.
 */
static void write_diamond(struct set *s)
{
	value_proto k_a = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT,
		    m_on = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT,
		    red = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT,
		    green = GOOGLE__PROTOBUF__ENUM_VALUE_DESCRIPTOR_PROTO__INIT;
	value_proto *kind_values[] = { &k_a }, *mode_values[] = { &m_on },
		    *color_values[] = { &red, &green };
	enum_proto kind = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT,
		   mode = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT,
		   color = GOOGLE__PROTOBUF__ENUM_DESCRIPTOR_PROTO__INIT;
	enum_proto *kind_p[] = { &kind }, *mode_p[] = { &mode },
		   *color_p[] = { &color };
	field_proto x = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT,
		    ext = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
	field_proto *x_p[] = { &x }, *ext_p[] = { &ext };
	oneof_proto o = GOOGLE__PROTOBUF__ONEOF_DESCRIPTOR_PROTO__INIT;
	oneof_proto *o_p[] = { &o };
	message_proto inner = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT,
		      outer = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT,
		      b_msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT,
		      a_msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
	message_proto *inner_p[] = { &inner }, *outer_p[] = { &outer },
		      *b_p[] = { &b_msg }, *a_p[] = { &a_msg };
	method_proto run = GOOGLE__PROTOBUF__METHOD_DESCRIPTOR_PROTO__INIT;
	method_proto *run_p[] = { &run };
	service_proto svc = GOOGLE__PROTOBUF__SERVICE_DESCRIPTOR_PROTO__INIT;
	service_proto *svc_p[] = { &svc };
	file_proto a = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT,
		   b = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT,
		   c = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
	char *a_deps[] = { S("b.proto"), S("c.proto") }, *b_deps[] = {
		S("c.proto") };

	k_a.name = S("K_A");
	m_on.name = S("M_ON");
	red.name = S("RED");
	green.name = S("GREEN");
	kind.name = S("Kind");
	kind.n_value = 1;
	kind.value = kind_values;
	mode.name = S("Mode");
	mode.n_value = 1;
	mode.value = mode_values;
	color.name = S("Color");
	color.n_value = 2;
	color.value = color_values;
	x.name = S("x");
	ext.name = S("ext");
	o.name = S("o");
	inner.name = S("Inner");
	inner.n_enum_type = 1;
	inner.enum_type = kind_p;
	outer.name = S("Outer");
	outer.n_field = 1;
	outer.field = x_p;
	outer.n_oneof_decl = 1;
	outer.oneof_decl = o_p;
	outer.n_nested_type = 1;
	outer.nested_type = inner_p;
	outer.n_enum_type = 1;
	outer.enum_type = mode_p;
	run.name = S("Run");
	svc.name = S("Svc");
	svc.n_method = 1;
	svc.method = run_p;
	b_msg.name = S("B");
	a_msg.name = S("A");

	c.name = S("c.proto");
	c.package = S("p");
	c.n_message_type = 1;
	c.message_type = outer_p;
	c.n_enum_type = 1;
	c.enum_type = color_p;
	c.n_service = 1;
	c.service = svc_p;
	c.n_extension = 1;
	c.extension = ext_p;
	b.name = S("b.proto");
	b.package = S("p.sub");
	b.n_dependency = 1;
	b.dependency = b_deps;
	b.n_message_type = 1;
	b.message_type = b_p;
	a.name = S("a.proto");
	a.n_dependency = 2;
	a.dependency = a_deps;
	a.n_message_type = 1;
	a.message_type = a_p;

	put_file(s, &a);
	put_file(s, &b);
	put_file(s, &c);
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
	message_proto m = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
	message_proto *m_p[] = { &m };
	file_proto f = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
	char *deps[] = { S("nowhere.proto") };
	struct set s = { .len = 0 };

	(void)state;
	f.name = S("f.proto");
	f.n_dependency = 1;
	f.dependency = deps;
	put_file(&s, &f);
	assert_fails(s.data, s.len, -ENOENT);

	/* the import is there now, but a message has no name */
	f.n_dependency = 0;
	f.n_message_type = 1;
	f.message_type = m_p;
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
