# The benchmark's real programs (bench/README.md "Real programs"), included by
# firmware/Makefile (paths relative to firmware/).  Every NAME.c here is one program,
# built with the firmware's own flags four times per architecture:
#   prog_NAME          root image (harness/root.c)
#   prog_NAME_child    child image (harness/child.c), also what bare Unicorn runs
#   prog_NAME_parent   root that runs prog_NAME_child with the timer on (harness/parent.c)
#   prog_NAME_linux    static Linux executable for QEMU user mode (harness/linux*.[cS])
BENCH_DIR      := ../bench/programs
BENCH_PROGRAMS := $(sort $(basename $(notdir $(wildcard $(BENCH_DIR)/*.c))))
LINK_linux     := -Wl,-T,$(BUILD)/ld/linux.ld
$(BUILD)/ld/linux.ld: FORCE
	@$(PY) -m pipsim.kernel.sdk.flags script 0x10000 0x1000 0 $@

define bench_program
prog_$(1)_KIND := root
prog_$(1)_SRCS := $(BENCH_DIR)/harness/root.c $(BENCH_DIR)/$(1).c
prog_$(1)_child_KIND := child
prog_$(1)_child_SRCS := $(BENCH_DIR)/harness/child.c $(BENCH_DIR)/$(1).c
prog_$(1)_parent_KIND := root
prog_$(1)_parent_SRCS := $(BENCH_DIR)/harness/parent.c
prog_$(1)_parent_DEFS := -DBENCH_CHILD_IMAGE=prog_$(1)_child_image
prog_$(1)_parent_EMBED := prog_$(1)_child
endef
$(foreach p,$(BENCH_PROGRAMS),$(eval $(call bench_program,$(p))))
BENCH_IMAGES := $(foreach p,$(BENCH_PROGRAMS),prog_$(p) prog_$(p)_child prog_$(p)_parent)

# program.h is not in the image rule's prerequisites
$(foreach a,$(ARCHES),$(foreach p,$(BENCH_PROGRAMS),\
  $(eval $(BUILD)/$(a)/prog_$(p).elf $(BUILD)/$(a)/prog_$(p)_child.elf: $(BENCH_DIR)/program.h)))

define bench_linux_rule
$(BUILD)/$(1)/prog_$(2)_linux.elf: $(BENCH_DIR)/harness/linux_start.S $(BENCH_DIR)/harness/linux.c \
    $(BENCH_DIR)/$(2).c $(BENCH_DIR)/program.h ld/image.ld $(BUILD)/ld/linux.ld
	@mkdir -p $$(@D)
	$$(CC_$(1)) $$(CFLAGS) $$(FLAGS_$(1)_$$(call state_of,$(1),prog_$(2))) $$(LDFLAGS) \
	  $$(LINK_linux) -o $$@ $$(filter %.S %.c,$$^) $$(LIBS_$(1))
endef
$(foreach a,$(ARCHES),$(foreach p,$(BENCH_PROGRAMS),$(eval $(call bench_linux_rule,$(a),$(p)))))
arm: $(foreach p,$(BENCH_PROGRAMS),$(BUILD)/arm/prog_$(p)_linux.elf)
x86: $(foreach p,$(BENCH_PROGRAMS),$(BUILD)/x86/prog_$(p)_linux.elf)
