# Turns the schema folder into a C++ source: migrations (NNNN_name.sql, in
# order) and the manifest become string constants compiled into the binary.
# Invoked as: cmake -DSCHEMA_DIR=... -DOUT=... -P embed.cmake
file(GLOB migrations RELATIVE ${SCHEMA_DIR} ${SCHEMA_DIR}/[0-9][0-9][0-9][0-9]_*.sql)
list(SORT migrations)
set(body "// Generated from store/schema by embed.cmake. Do not edit.\n")
string(APPEND body "#include \"store/schema.h\"\n\nnamespace unitsync::store {\n\n")
string(APPEND body "const SchemaBundle& SupportSchema() {\n  static const SchemaBundle kBundle{\n    {\n")
foreach(m ${migrations})
  file(READ ${SCHEMA_DIR}/${m} sql)
  string(REGEX MATCH "^([0-9]+)_" _ ${m})
  math(EXPR version "${CMAKE_MATCH_1}")
  string(APPEND body "      {${version}, \"${m}\", R\"unitsync_sql(${sql})unitsync_sql\"},\n")
endforeach()
file(READ ${SCHEMA_DIR}/manifest.toml manifest)
string(APPEND body "    },\n    R\"unitsync_toml(${manifest})unitsync_toml\"};\n  return kBundle;\n}\n\n}  // namespace unitsync::store\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
