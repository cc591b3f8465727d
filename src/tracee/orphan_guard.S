// The orphan guard's code, copied into the target by OrphanGuard (orphan_guard.h); it
// never runs inside rewind. It is position independent; its data (the program's own
// actions and what rewind saves there) follows 512 bytes after its start. The guard only
// reads its data: rewind writes it through /proc/PID/mem, so code and data can share a
// page that is not writable (the vDSO's unused tail, or a page of their own).
//
// It is the target's SIGSEGV handler while rewind records. While the recorder lives, it
// handles every rdtsc fault under ptrace and the guard only passes real faults on to the
// program. If the recorder dies, an rdtsc fault reaches the guard: it turns rdtsc
// trapping off for that thread and returns, and the instruction runs again, untrapped.
// A cpuid fault (rewind traps cpuid too, ARCH_SET_CPUID) gets the same.
//
// rewind also sets a word to have one rdtsc fault passed on to the program's action, when
// the program trapped rdtsc itself (PR_SET_TSC) and the fault is its own.
//
// It is the SIGTRAP handler too: a thread that rewind was single-stepping when it died
// gets one more single-step trap, which the guard ignores while rewind's "stepping" word
// is set (the kernel has already turned single-stepping off to deliver it).
//
// The guard also holds the `syscall` instruction that rewind runs its injected syscalls
// on. Should rewind die during one, the thread goes on past it and puts back its own
// registers, saved by rewind in the data page, instead of running on with rewind's.
        .section .rodata.rwd_orphan_guard, "a"
        .globl rwd_orphan_guard_begin, rwd_orphan_guard_end, rwd_orphan_guard_syscall
        .globl rwd_orphan_guard_segv, rwd_orphan_guard_trap, rwd_orphan_guard_restorer
        // The data; orphan_guard.cc has the same layout.
        .set .Lprogram_segv, rwd_orphan_guard_begin + 512       // struct kernel_sigaction
        .set .Lprogram_trap, rwd_orphan_guard_begin + 512 + 32  // struct kernel_sigaction
        .set .Lstepping, rwd_orphan_guard_begin + 512 + 64      // uint64_t
        .set .Lsaved, rwd_orphan_guard_begin + 512 + 128        // struct user_regs_struct
        .set .Lpass_rdtsc, rwd_orphan_guard_begin + 512 + 352   // uint64_t

        .balign 16
rwd_orphan_guard_begin:
// void handler(int sig /* rdi */, siginfo_t* info /* rsi */, ucontext_t* uc /* rdx */)
rwd_orphan_guard_segv:
        cmpl    $0x80, 8(%rsi)          // si_code == SI_KERNEL: a general-protection fault
        jne     .Lpass_on_segv
        movq    168(%rdx), %rax         // uc->uc_mcontext.gregs[REG_RIP]
        movzwl  (%rax), %ecx
        cmpl    $0x310f, %ecx           // rdtsc: 0f 31
        je      .Lenable_tsc
        cmpl    $0xa20f, %ecx           // cpuid: 0f a2
        je      .Lenable_cpuid
        cmpl    $0x010f, %ecx           // rdtscp: 0f 01 f9
        jne     .Lpass_on_segv
        cmpb    $0xf9, 2(%rax)
        jne     .Lpass_on_segv
.Lenable_tsc:
        cmpq    $0, .Lpass_rdtsc(%rip)  // rewind passes this fault on: the program
        jne     .Lpass_on_segv          // trapped rdtsc itself
        movl    $26, %edi               // PR_SET_TSC
        movl    $1, %esi                // PR_TSC_ENABLE
        movl    $157, %eax              // SYS_prctl
        syscall
        ret                             // to the restorer; rdtsc runs again
.Lenable_cpuid:
        movl    $0x1012, %edi           // ARCH_SET_CPUID
        movl    $1, %esi                // cpuid runs without faulting
        movl    $158, %eax              // SYS_arch_prctl
        syscall
        ret                             // to the restorer; cpuid runs again

rwd_orphan_guard_trap:
        cmpq    $0, .Lstepping(%rip)
        je      .Lpass_on_trap
        cmpl    $2, 8(%rsi)             // si_code == TRAP_TRACE: a single-step trap
        jne     .Lpass_on_trap
        andq    $-257, 176(%rdx)        // clear TF in uc->uc_mcontext.gregs[REG_EFL]
        ret

// Any other signal: the program's handler gets it exactly as it would have from the
// kernel (same stack, same arguments, rax 0).
.Lpass_on_trap:
        movq    .Lprogram_trap(%rip), %r11
        jmp     .Lpass_on
.Lpass_on_segv:
        movq    .Lprogram_segv(%rip), %r11
.Lpass_on:
        cmpq    $1, %r11                // SIG_DFL (0) or SIG_IGN (1)
        jbe     .Lno_handler
        xorl    %eax, %eax
        jmp     *%r11

// The program has no handler: put its disposition back. A SIGSEGV fault happens again
// at once and takes the default action; anything else is sent again unless ignored.
// Every register is restored by rt_sigreturn, so all of them are free here.
.Lno_handler:
        movq    %rdi, %r13              // sig
        movq    %rsi, %r12              // info
        movq    %r11, %r14              // SIG_DFL or SIG_IGN
        subq    $32, %rsp               // struct kernel_sigaction
        movq    %r11, 0(%rsp)
        movq    $0, 8(%rsp)
        movq    $0, 16(%rsp)
        movq    $0, 24(%rsp)
        movl    %r13d, %edi
        movq    %rsp, %rsi
        xorl    %edx, %edx
        movl    $8, %r10d
        movl    $13, %eax               // SYS_rt_sigaction
        syscall
        addq    $32, %rsp
        cmpl    $11, %r13d              // SIGSEGV
        jne     .Lsend_again
        cmpl    $0, 8(%r12)             // si_code > 0: raised by the kernel for a fault
        jg      .Ldone
.Lsend_again:
        cmpq    $1, %r14
        je      .Ldone
        movl    $39, %eax               // SYS_getpid
        syscall
        movl    %eax, %r15d
        movl    $186, %eax              // SYS_gettid
        syscall
        movl    %eax, %esi
        movl    %r15d, %edi
        movl    %r13d, %edx
        movl    $234, %eax              // SYS_tgkill
        syscall
.Ldone:
        ret

// Used when the program's action has no restorer of its own (SIG_DFL, SIG_IGN).
rwd_orphan_guard_restorer:
        movl    $15, %eax               // SYS_rt_sigreturn
        syscall

// Injected syscalls run here. Under rewind, the thread stops at the syscall's exit and
// rewind restores its registers; only without rewind does it get past the instruction.
rwd_orphan_guard_syscall:
        syscall
        movq    .Lsaved+0(%rip), %r15
        movq    .Lsaved+8(%rip), %r14
        movq    .Lsaved+16(%rip), %r13
        movq    .Lsaved+24(%rip), %r12
        movq    .Lsaved+32(%rip), %rbp
        movq    .Lsaved+40(%rip), %rbx
        movq    .Lsaved+48(%rip), %r11
        movq    .Lsaved+56(%rip), %r10
        movq    .Lsaved+64(%rip), %r9
        movq    .Lsaved+72(%rip), %r8
        movq    .Lsaved+80(%rip), %rax
        movq    .Lsaved+88(%rip), %rcx
        movq    .Lsaved+96(%rip), %rdx
        movq    .Lsaved+104(%rip), %rsi
        movq    .Lsaved+112(%rip), %rdi
        leaq    -136(%rsp), %rsp        // past the red zone; lea leaves the flags alone
        pushq   .Lsaved+144(%rip)       // eflags
        popfq
        leaq    136(%rsp), %rsp
        jmpq    *.Lsaved+128(%rip)      // rip
rwd_orphan_guard_end:

        .section .note.GNU-stack, "", @progbits
