# Joins the layers' generated pass references (DOCS: "Layer=file|...") into
# one document (OUTPUT), a section per layer.
set(titles
  "Graph=Graph: rewrites on the ube dialect (passes/Graph)"
  "Linalg=ube to linalg (passes/Linalg)"
  "Common=Target-independent codegen (passes/Common)"
  "Cpu=The cpu target (passes/Cpu)"
  "Cuda=The cuda target (passes/Cuda)")
set(text "<!-- Generated from passes/*/Passes.td by `ninja ube-docs`; don't edit by hand -->\n\n")
string(APPEND text "# Pass reference\n\nEvery ube pass, by layer, as `ube-opt` takes it. The pipelines that\n")
string(APPEND text "combine them are in [architecture.md](architecture.md#from-a-model-to-results).\n")
string(REPLACE "|" ";" docs "${DOCS}")
foreach(doc ${docs})
  string(REPLACE "=" ";" pair ${doc})
  list(GET pair 0 layer)
  list(GET pair 1 file)
  set(title ${layer})
  foreach(entry ${titles})
    if(entry MATCHES "^${layer}=(.*)$")
      set(title ${CMAKE_MATCH_1})
    endif()
  endforeach()
  file(READ ${file} body)
  string(REGEX REPLACE "^<!--[^\n]*-->\n*" "" body "${body}")
  string(APPEND text "\n## ${title}\n\n${body}")
endforeach()
file(WRITE ${OUTPUT} "${text}")
