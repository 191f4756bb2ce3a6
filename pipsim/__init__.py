"""pipsim: a Pip-style partition simulator and ODSI on-device runtime.

One import namespace; each subpackage is a top-level source folder of the repository:

=====================  ===============  =============================================
import                 source folder    what
=====================  ===============  =============================================
``pipsim.kernel``      ``pipkernel/``   the C core's API, the reference model, the machine
``pipsim.partitions``  ``partitions/``  device-image manifests: validate, plan, boot
``pipsim.ipc``         ``ipc/``         mailboxes, the parent relay, channel policy
``pipsim.tokens``      ``tokens/``      CWT/COSE tokens, replay cache, keys
``pipsim.domains``     ``domains/``     ODSI domains and the on-device runtime
``pipsim.trust``       ``trust/``       signed images, measured boot, attestation
``pipsim.management``  ``management/``  D3.3's REST services, the LwM2M server, the fleet
``pipsim.experiments`` ``experiments/`` the experiment runner and its experiments
=====================  ===============  =============================================
"""
